//! What each named constraint means to a client: the field at fault and a sentence for it.
//! A violation of a constraint listed here becomes a 409 (unique, exclusion) or 400 (foreign key,
//! check) naming the field; any other violation is an internal error.

pub fn describe(constraint: &str) -> Option<(&'static str, &'static str)> {
    Some(match constraint {
        "users_email_key" => ("email", "This email is already registered"),
        "users_name_length" => ("name", "Name must be 1 to 100 characters"),
        "brands_name_key" => ("name", "A brand with this name already exists"),
        "brands_code_key" => ("code", "A brand with this code already exists"),
        "domains_domain_key" => ("domain", "This domain is already registered"),
        "domains_brand_id_fkey" => ("brandId", "No brand has this id"),
        "scan_batches_scan_id_key" => ("scanId", "This scan was already submitted"),
        "categories_name_key" => ("name", "A category with this name already exists"),
        "services_category_id_fkey" => ("categoryId", "No category has this id"),
        "appointments_no_overlap" => ("time", "This slot is already taken"),
        "gallery_expert_id_fkey" => ("expertId", "No expert has this id"),
        "gallery_service_id_fkey" => ("serviceId", "No service has this id"),
        "reviews_appointment_key" => ("appointmentId", "This appointment was reviewed already"),
        "course_applications_once" => ("courseId", "You applied to this course already"),
        "expert_services_service_id_fkey" => ("serviceIds", "No service has one of these ids"),
        _ => return None,
    })
}
