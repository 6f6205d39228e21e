//! The dashboard's files as the browser gets them: types, caching, and the page's own policy.

use crate::helpers::spawn_app;

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

#[actix_web::test]
async fn the_page_names_its_versioned_files_which_are_cached_for_good() {
    let app = spawn_app().await;
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let policy = header(&page, "content-security-policy").to_owned();
    assert!(policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"));
    assert!(
        !policy.contains("unsafe-inline") && !policy.contains("http"),
        "{policy}"
    );
    let html = page.text().await.unwrap();
    let start = html.find("/ui/").expect("a file of the page") + "/ui/".len();
    let version = &html[start..start + 12];
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "nothing inline"
    );

    let script = app.get(&format!("/ui/{version}/js/main.js")).await;
    assert_eq!(script.status(), 200);
    assert_eq!(
        header(&script, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        header(&script, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        header(&script, "content-security-policy"),
        policy,
        "the page's policy"
    );
    let etag = header(&script, "etag").to_owned();
    let again = app
        .http
        .get(app.url(&format!("/ui/{version}/js/main.js")))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let css = app.get(&format!("/ui/{version}/app.css")).await;
    assert_eq!(header(&css, "content-type"), "text/css; charset=utf-8");

    // A page from another release gets this release's file, but must not keep it.
    let other = app.get("/ui/000000000000/js/main.js").await;
    assert_eq!(other.status(), 200);
    assert_eq!(header(&other, "cache-control"), "no-cache");
    for missing in [
        format!("/ui/{version}/js/nope.js"),
        format!("/ui/{version}/../Cargo.toml"),
        format!("/ui/{version}/%2e%2e/Cargo.toml"),
    ] {
        let response = app.get(&missing).await;
        assert_eq!(response.status(), 404, "{missing}");
    }
}

#[actix_web::test]
async fn the_api_keeps_the_strict_policy() {
    let app = spawn_app().await;
    let health = app.get("/health").await;
    assert_eq!(
        header(&health, "content-security-policy"),
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    );
    let api = app.get("/api/v1/brands").await;
    assert_eq!(api.status(), 401);
    assert_eq!(
        header(&api, "content-security-policy"),
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    );
}
