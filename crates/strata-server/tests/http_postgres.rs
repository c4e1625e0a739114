//! The HTTP suite on PostgreSQL: a fresh database per test on the server named by
//! `STRATA_TEST_POSTGRES_URL`. Without it these tests fail (they never skip).

mod suite;

use strata_testkit::pg;

fn fresh() -> suite::Running {
    suite::start(pg::fresh_database("strata_http"), Box::new(()))
}

all_suites!(fresh());

const CONFIG: &str = "/v1/config/dev/checkout?provider=aws";

/// A server that has answered a read of [`CONFIG`] (the answer), after which its database
/// was dropped.
fn store_gone_after_a_read() -> (suite::Running, suite::Answer) {
    let s = fresh();
    let before = s.get(CONFIG, Some(s.admin()), None);
    assert_eq!(before.status, 200, "{}", before.body);
    pg::drop_database(s.store());
    std::thread::sleep(std::time::Duration::from_millis(300));
    (s, before)
}

#[test]
fn reads_go_on_from_memory_when_the_store_is_gone() {
    let (s, before) = store_gone_after_a_read();
    let ready = s.get("/readyz", None, None);
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.body["status"], "degraded");
    let after = s.get(CONFIG, Some(s.admin()), None);
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(after.body, before.body);
    assert_eq!(after.etag, before.etag);
}

#[test]
fn writes_are_refused_with_retry_after_when_the_store_is_gone() {
    let (s, before) = store_gone_after_a_read();
    let change = serde_json::json!({"changes": [
        {"set": "checkout:replicas", "layer": "env/dev", "value": 3}
    ]});
    let writes = [
        s.post("/v1/changes", Some(s.admin()), &change),
        s.post(
            "/v1/validate",
            Some(s.admin()),
            &serde_json::json!({ "changeset": change }),
        ),
        s.post(
            "/v1/requests/R00000000/approve",
            Some(s.admin()),
            &serde_json::json!({}),
        ),
        s.post(
            "/v1/requests/R00000000/reject",
            Some(s.admin()),
            &serde_json::json!({"reason": "x"}),
        ),
        s.post(
            "/v1/tokens",
            Some(s.admin()),
            &serde_json::json!({"principal": "x"}),
        ),
        s.request(
            "DELETE",
            "/v1/tokens/000000000000",
            Some(s.admin()),
            None,
            &[],
        ),
    ];
    for w in &writes {
        assert_eq!(w.status, 503, "{}", w.body);
        assert_eq!(w.body["error"]["code"], "store_unavailable", "{}", w.body);
        let retry: u64 = w.headers["retry-after"].parse().unwrap();
        assert!(retry >= 1, "{retry}");
    }
    // Reads go on from memory.
    let after = s.get(CONFIG, Some(s.admin()), None);
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(after.body, before.body);
}

#[test]
fn requests_in_flight_finish_on_shutdown() {
    let s = fresh();
    // Hold the token table so the next request waits inside the server.
    let mut client = postgres::Client::connect(s.store(), postgres::NoTls).unwrap();
    let mut tx = client.transaction().unwrap();
    tx.batch_execute("LOCK TABLE strata_tokens IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let wait = std::time::Duration::from_millis(300);
    let answer = std::thread::scope(|scope| {
        let request = scope.spawn(|| s.get(CONFIG, Some(s.admin()), None));
        std::thread::sleep(wait);
        assert!(
            !request.is_finished(),
            "the request did not wait for the lock"
        );
        s.shutdown();
        std::thread::sleep(wait);
        assert!(!s.stopped(), "the server stopped with a request in flight");
        tx.commit().unwrap();
        request.join().unwrap()
    });
    assert_eq!(answer.status, 200, "{}", answer.body);
    let started = std::time::Instant::now();
    while !s.stopped() {
        assert!(started.elapsed().as_secs() < 5, "the server did not stop");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
