//! Fault drills: what production does to the hub, with every piece of work done once at the end.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::booking::salon;
use crate::dashboard::{dashboard, submit_scan};
use crate::helpers::{catching_sigterm, json, spawn_app_with_smtp};

const ROUNDS: usize = 20;

/// How each round ends the worker.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    /// SIGKILL, as a crash: held work is taken up again by the next worker.
    Kill,
    /// SIGTERM, as a deploy: the worker finishes what it holds and exits 0.
    Terminate,
}

#[actix_web::test]
async fn a_worker_sigkilled_20_times_while_mails_scans_and_expiries_flow_loses_and_repeats_nothing()
{
    worker_drill(Stop::Kill).await;
}

#[actix_web::test]
async fn a_worker_sigtermed_20_times_finishes_what_it_holds_and_sends_no_mail_twice() {
    worker_drill(Stop::Terminate).await;
}

async fn worker_drill(stop: Stop) {
    let mut app = spawn_app_with_smtp(|settings| {
        settings.booking.reservation_ttl = Duration::from_secs(4);
    })
    .await;
    let salon = salon(&app).await;
    let names: Vec<String> = (0..40)
        .map(|n| format!("drill-{n:02}.example.com"))
        .collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let board = dashboard(&app, &name_refs).await;

    // The work: 16 reservations that expire (each with a mail), 20 registrations (a mail
    // each), 20 scan batches (every result stored once).
    let mut reservations = Vec::new();
    for hour in 9..17 {
        for _ in 0..2 {
            let body = json!({"serviceId": salon.service, "date": salon.date, "time": format!("{hour:02}:00")});
            let (status, held) = app
                .send_as(
                    Method::POST,
                    "/api/v1/appointments",
                    &salon.user,
                    Some(&body),
                )
                .await;
            assert_eq!(status, 201, "{held}");
            reservations.push(
                held["data"]["appointment"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    let registrants: Vec<String> = (0..ROUNDS)
        .map(|n| format!("drill{n}@example.com"))
        .collect();
    let mut batches = Vec::new();

    // The worker stops 20 times while that work arrives: up for 0.2 to 0.9 s, then the signal.
    // Before it catches SIGTERM (it is still starting and holds nothing) the signal would simply
    // end it, as it would in a deploy; the graceful stop is timed from there.
    for (kill, registrant) in registrants.iter().enumerate() {
        let worker = app.start_worker();
        if stop == Stop::Terminate {
            catching_sigterm(worker).await;
        }
        let body = json!({"name": "Drill", "email": registrant, "password": "a fine password"});
        let (status, _) = json(app.post_json("/api/v1/auth/register", &body).await).await;
        assert_eq!(status, 201);
        let status = if kill % 2 == 0 {
            "blocked"
        } else {
            "accessible"
        };
        let results: Vec<Value> = names
            .iter()
            .map(|domain| json!({"domain": domain, "status": status}))
            .collect();
        let scan = json!({"scanId": format!("drill-{kill}"), "results": results});
        let (code, accepted) = submit_scan(&app, &board.key, &scan).await;
        assert_eq!(code, 202, "{accepted}");
        batches.push(accepted["data"]["batchId"].as_str().unwrap().to_owned());
        tokio::time::sleep(Duration::from_millis(200 + (kill as u64 * 37) % 700)).await;
        match stop {
            Stop::Kill => app.kill_workers().await,
            Stop::Terminate => {
                for exit in app.terminate_workers(Duration::from_secs(30)).await {
                    assert!(exit.is_some_and(|status| status.success()), "{exit:?}");
                }
                // A clean stop leaves nothing held: no batch mid-ingest, no mail still claimed.
                let client = app.db.get().await.unwrap();
                let held: i64 = client
                    .query_one(
                        "SELECT (SELECT count(*) FROM scan_batches WHERE state = 'processing') \
                         + (SELECT count(*) FROM mails WHERE status = 'pending' \
                            AND claimed_until > now())",
                        &[],
                    )
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(
                    held, 0,
                    "round {kill}: work still held after the worker exited"
                );
            }
        }
    }
    app.start_worker();

    let client = app.db.get().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let done: i64 = client
            .query_one(
                "SELECT count(*) FROM scan_batches WHERE state = 'done'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let expired: i64 = client
            .query_one(
                "SELECT count(*) FROM appointments WHERE status = 'expired'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        // A verification per registration; a reservation and an expiry mail per booking.
        let unsent: i64 = client
            .query_one("SELECT count(*) FROM mails WHERE status <> 'sent'", &[])
            .await
            .unwrap()
            .get(0);
        if done == ROUNDS as i64 && expired == reservations.len() as i64 && unsent == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after 90 s: {done} batches done, {expired} expired, {unsent} mails unsent"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Anything applied twice would show by now.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let stored: i64 = client
        .query_one("SELECT count(*) FROM domain_scans", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stored,
        (ROUNDS * names.len()) as i64,
        "every result stored once"
    );
    for batch in &batches {
        let (_, status) = app
            .send_as(
                Method::GET,
                &format!("/api/v1/scans/{batch}"),
                &board.key,
                None,
            )
            .await;
        assert_eq!(status["data"]["applied"], names.len(), "{status}");
    }
    let final_status: String = client
        .query_one(
            "SELECT nawala_status FROM domains WHERE domain = $1",
            &[&names[0]],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        final_status, "tidak ada",
        "the last batch (accessible) wins"
    );
    for id in &reservations {
        let notices: i64 = client
            .query_one(
                "SELECT count(*) FROM notifications WHERE kind = 'appointment_expired' AND data->>'appointmentId' = $1",
                &[id],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(notices, 1, "{id} expired once");
    }
    // SMTP has no way to make a send idempotent: a worker killed after the server took a mail
    // but before the row says `sent` sends it again. Each mail carries its row's id as its
    // Message-ID, so a receiver drops the copy; here every row must arrive, and a copy is only
    // ever one of an interrupted send.
    let delivered: Vec<String> = app
        .smtp()
        .messages()
        .iter()
        .filter_map(|message| {
            message.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("message-id")
                    .then(|| value.trim().to_owned())
            })
        })
        .collect();
    let rows = client.query("SELECT id FROM mails", &[]).await.unwrap();
    let ids: std::collections::HashSet<String> = rows
        .iter()
        .map(|row| format!("<{}@hub>", row.get::<_, uuid::Uuid>(0)))
        .collect();
    let distinct: std::collections::HashSet<String> = delivered.iter().cloned().collect();
    assert_eq!(
        distinct, ids,
        "every mail arrived, under its own Message-ID"
    );
    let copies = delivered.len() - distinct.len();
    let concurrency = app.settings.worker.concurrency.max(1);
    let interruptible = match stop {
        Stop::Kill => ROUNDS * concurrency,
        Stop::Terminate => 0,
    };
    assert!(
        copies <= interruptible,
        "{copies} copies: more than the {interruptible} sends the stops could interrupt"
    );
    println!(
        "{} mails, {copies} sent twice by a worker stopped mid-send",
        ids.len()
    );
    let expiry_mails: i64 = client
        .query_one(
            "SELECT count(*) FROM mails WHERE to_address = 'client@example.com' AND kind = 'appointment_expired'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        expiry_mails,
        reservations.len() as i64,
        "an expiry mail each"
    );
}
