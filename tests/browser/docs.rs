//! `/api/docs`: Swagger UI renders every operation of the hub's own document, with nothing
//! loaded from another host.

use std::time::Duration;

use crate::browser::Browser;
use crate::helpers::spawn_app;

#[actix_web::test]
async fn the_api_docs_render_every_operation_from_the_hub_alone() {
    let app = spawn_app().await;
    let document = serde_json::to_value(hub::openapi::document()).expect("the document");
    let operations: usize = document["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().expect("a path item").len())
        .sum();

    let response = app.get("/api/docs").await;
    let policy = response
        .headers()
        .get("content-security-policy")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("http"),
        "{policy}"
    );

    let browser = Browser::open().await;
    browser.goto(&format!("{}/api/docs", app.address)).await;
    let shown = browser
        .until(
            "every operation",
            &format!(
                "const n = document.querySelectorAll('.opblock').length; return n >= {operations} && n;"
            ),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(shown, operations);
    let title = browser
        .js("return document.querySelector('.info .title')?.textContent ?? null")
        .await;
    assert!(
        title.as_str().unwrap_or_default().starts_with("hub"),
        "{title}"
    );
    let elsewhere = browser
        .js(&format!(
            "return performance.getEntriesByType('resource').map(e => e.name)\
             .filter(url => !url.startsWith('{}/') && !url.startsWith('data:'))",
            app.address
        ))
        .await;
    assert_eq!(
        elsewhere,
        serde_json::json!([]),
        "nothing from another host"
    );
    browser.screenshot("api-docs").await;
}
