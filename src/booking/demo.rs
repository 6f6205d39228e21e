//! `hub dev` on an empty database: a small demo catalogue, so a person trying the hub can book at
//! once. Never run outside `hub dev`.

use deadpool_postgres::GenericClient;

/// Seeds categories, services and two experts when there is no category yet; answers whether it
/// did.
pub async fn seed_if_empty(client: &impl GenericClient) -> anyhow::Result<bool> {
    let empty: bool = client
        .query_one("SELECT NOT EXISTS (SELECT 1 FROM categories)", &[])
        .await?
        .get(0);
    if !empty {
        return Ok(false);
    }
    client
        .batch_execute(
            "WITH hair AS (INSERT INTO categories (name, display_order) VALUES ('Hair', 1) RETURNING id),
                  nails AS (INSERT INTO categories (name, display_order) VALUES ('Nails', 2) RETURNING id),
                  services AS (
                      INSERT INTO services (category_id, name, description, price, duration_minutes)
                      SELECT hair.id, 'Haircut', 'Wash, cut and style', 150000, 60 FROM hair
                      UNION ALL SELECT hair.id, 'Colouring', 'Full colour', 450000, 120 FROM hair
                      UNION ALL SELECT nails.id, 'Manicure', 'Classic manicure', 120000, 45 FROM nails
                      RETURNING id, name),
                  wash AS (
                      INSERT INTO sub_services (service_id, name, price, duration_minutes)
                      SELECT id, 'Hair mask', 50000, 15 FROM services WHERE name = 'Haircut'),
                  experts AS (
                      INSERT INTO experts (name, bio) VALUES
                          ('Ayu', 'Cuts and colour, ten years at the chair'),
                          ('Budi', 'Cuts and nails')
                      RETURNING id, name)
             INSERT INTO expert_services (expert_id, service_id)
             SELECT experts.id, services.id FROM experts, services
             WHERE (experts.name = 'Ayu' AND services.name IN ('Haircut', 'Colouring'))
                OR (experts.name = 'Budi' AND services.name IN ('Haircut', 'Manicure'))",
        )
        .await?;
    Ok(true)
}
