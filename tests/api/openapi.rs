//! The OpenAPI document: it names every route the code serves, it is valid OpenAPI 3.1, and
//! schemathesis, driving every operation as an admin, finds no 5xx and no answer that breaks it.
//!
//! The validators run from `scripts/install-deps`' tools (`HUB_TEST_TOOLS`, default
//! `/opt/hub-tools/bin`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::auth::{sign_in, verified_user};
use crate::dashboard::checker_key;
use crate::helpers::{spawn_app, spawn_app_with};

fn tool(name: &str) -> PathBuf {
    let dir = std::env::var("HUB_TEST_TOOLS").unwrap_or_else(|_| "/opt/hub-tools/bin".into());
    let path = Path::new(&dir).join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-deps",
        path.display()
    );
    path
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading src") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            into.push(path);
        }
    }
}

/// Routes that are not part of the API document: operations, the socket, the dashboard's
/// files, and the document with its viewer.
const NOT_API: &[&str] = &[
    "/health",
    "/ready",
    "/metrics",
    "/ws",
    "/",
    "/ui/{version}/{path:.*}",
    "/api/v1/openapi.json",
    "/api/docs",
    "/api/docs/{file}",
];

/// `(METHOD, path)` of every actix route attribute under `src/`, read from the source so a
/// route added without an annotation is caught. Route forms this reader does not follow
/// (`web::resource`, `.route(`, `#[route]`, a scope that is not a literal) fail it rather than
/// being skipped.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("reading a source file");
        let name = file.display();
        let unfollowed_forms = [
            "web::resource(",
            ".route(",
            "#[route(",
            "#[actix_web::get",
            "#[actix_web::post",
            "#[actix_web::put",
            "#[actix_web::delete",
            "#[actix_web::patch",
            "#[actix_web::route",
        ];
        for unfollowed in unfollowed_forms {
            assert!(
                !text.contains(unfollowed),
                "{name}: {unfollowed} is not read by this test"
            );
        }
        let scopes: Vec<&str> = text
            .match_indices("web::scope(")
            .map(|(at, _)| &text[at..])
            .collect();
        assert!(
            scopes.len() <= 1,
            "{name}: one scope per file is all this test reads"
        );
        let scope = scopes.first().map(|rest| {
            let literal = rest["web::scope(".len()..]
                .strip_prefix('"')
                .unwrap_or_else(|| panic!("{name}: a scope that is not a literal"));
            &literal[..literal.find('"').expect("a closing quote")]
        });
        for method in ["get", "post", "put", "delete", "patch"] {
            let opening = format!("#[{method}(\"");
            for (at, _) in text.match_indices(&opening) {
                let path = &text[at + opening.len()..];
                let path = &path[..path.find('"').expect("a closing quote")];
                routes.insert((
                    method.to_uppercase(),
                    format!("{}{path}", scope.unwrap_or("")),
                ));
            }
        }
    }
    routes
        .into_iter()
        .filter(|(_, path)| !NOT_API.contains(&path.as_str()))
        .collect()
}

fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            found.push((method.to_uppercase(), path.clone(), operation));
        }
    }
    found
}

#[test]
fn the_document_names_every_api_route_with_its_answers() {
    let mut schemas: BTreeMap<String, (&str, Value)> = BTreeMap::new();
    for (tag, part) in hub::openapi::parts() {
        let part = serde_json::to_value(part).expect("a part as JSON");
        for (name, schema) in part["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
        {
            if let Some((other, earlier)) = schemas.get(name) {
                assert_eq!(
                    earlier, schema,
                    "{name}: {other} and {tag} define it differently"
                );
            }
            schemas.insert(name.clone(), (tag, schema.clone()));
        }
    }
    let document = serde_json::to_value(hub::openapi::document()).expect("the document as JSON");
    let documented: BTreeSet<(String, String)> = operations(&document)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let served = routes_in_source();
    assert!(served.len() > 80, "the source scan found {}", served.len());
    let missing: Vec<_> = served.difference(&documented).collect();
    let invented: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "routes not in the document: {missing:?}"
    );
    assert!(
        invented.is_empty(),
        "documented but not served: {invented:?}"
    );

    let mut ids = BTreeSet::new();
    for (method, path, operation) in operations(&document) {
        let name = format!("{method} {path}");
        assert!(operation["summary"].is_string(), "{name} has no summary");
        assert!(
            ids.insert(
                operation["operationId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            ),
            "{name}: operationId missing or repeated"
        );
        let responses = operation["responses"].as_object().expect("responses");
        let success = responses
            .iter()
            .find(|(status, _)| status.starts_with('2'))
            .unwrap_or_else(|| panic!("{name} documents no success"));
        assert!(
            success.1["content"]["application/json"]["schema"].is_object(),
            "{name}: its success has no schema"
        );
        for status in ["400", "500", "503"] {
            assert_eq!(
                responses[status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Failure",
                "{name} {status}"
            );
        }
    }
}

#[actix_web::test]
async fn the_served_document_is_valid_openapi_3_1() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.expect("JSON");
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(
        served,
        serde_json::to_value(hub::openapi::document()).expect("JSON"),
        "the served document is the one the code builds"
    );
    let file = std::env::temp_dir().join(format!("hub-openapi-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, served.to_string()).expect("writing the document");
    let validation = tokio::process::Command::new(tool("openapi-spec-validator"))
        .arg(&file)
        .output()
        .await
        .expect("running openapi-spec-validator");
    let _ = std::fs::remove_file(&file);
    assert!(
        validation.status.success(),
        "{}{}",
        String::from_utf8_lossy(&validation.stdout),
        String::from_utf8_lossy(&validation.stderr)
    );
}

/// The seed CI fuzzes with, so a run is repeatable; `HUB_FUZZ_SEED` explores others.
const FUZZ_SEED: &str = "20261122";

/// Every operation, positive and negative inputs, signed in as an admin and holding a checker
/// key (`X-Api-Key`, which the checker routes read before `Authorization`). Signing out would end
/// the run's own session, so logout is left out; rate limits are off so that the sign-in routes
/// are exercised rather than refused. schemathesis keeps no memory between runs.
#[actix_web::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let app = spawn_app_with(|settings| settings.rate_limit.enabled = false).await;
    verified_user(&app, "fuzz-admin@example.com", "admin").await;
    let (token, _) = sign_in(&app, "fuzz-admin@example.com").await;
    let key = checker_key(&app, &token).await;
    let seed = std::env::var("HUB_FUZZ_SEED").unwrap_or_else(|_| FUZZ_SEED.to_owned());
    let report = std::env::temp_dir().join(format!("hub-schemathesis-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&report).expect("a directory for the run");
    let mut run = tokio::process::Command::new(tool("schemathesis"));
    run.current_dir(&report)
        .arg("--config-file")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/schemathesis.toml"))
        .arg("run")
        .arg(app.url("/api/v1/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--header", &format!("X-Api-Key: {key}")])
        .args(["--generation-database", "none"])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,negative_data_rejection",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", "25", "--workers", "2"])
        .args(["--seed", &seed])
        .args(["--exclude-path", "/api/v1/auth/logout"])
        .args([
            "--request-timeout",
            "10",
            "--no-color",
            "--output-truncate",
            "false",
        ])
        .arg("--report-dir")
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", "")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = tokio::time::timeout(Duration::from_secs(900), run.output())
        .await
        .expect("schemathesis finishes within 15 minutes")
        .expect("running schemathesis");
    let _ = std::fs::remove_dir_all(&report);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis (seed {seed}) failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    eprintln!(
        "schemathesis (seed {seed}):\n{}",
        lines[lines.len().saturating_sub(12)..].join("\n")
    );
}
