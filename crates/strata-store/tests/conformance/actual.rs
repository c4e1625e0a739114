//! Conformance of reports of running systems: the latest per (target, service), replaced
//! by a newer one, shared between handles, and refused when damaged.

use strata_store::actual::ActualReport;
use strata_store::error::StoreError;

use super::Fixture;

pub fn actual_reports_keep_the_latest_per_target_and_service(fx: &Fixture) {
    let repo = fx.open();
    let store = repo.store();
    assert_eq!(store.actual_get("prod/aws/us-east-1", "web").unwrap(), None);
    let first = ActualReport::new(
        "prod/aws/us-east-1",
        "web",
        "bot",
        10,
        "aa",
        "{\"replicas\": 3}",
    );
    store.actual_put(&first).unwrap();
    let other = ActualReport::new(
        "dev/aws/us-east-1",
        "web",
        "bot",
        11,
        "aa",
        "{\"replicas\": 1}",
    );
    store.actual_put(&other).unwrap();
    assert_eq!(
        store
            .actual_get("prod/aws/us-east-1", "web")
            .unwrap()
            .as_ref(),
        Some(&first)
    );
    // A newer report replaces the one before; another handle (server) sees it.
    let second = ActualReport::new(
        "prod/aws/us-east-1",
        "web",
        "agent",
        20,
        "bb",
        "{\"replicas\": 4}",
    );
    store.actual_put(&second).unwrap();
    assert_eq!(
        fx.open()
            .store()
            .actual_get("prod/aws/us-east-1", "web")
            .unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        store.actual_get("dev/aws/us-east-1", "web").unwrap(),
        Some(other)
    );
    // Invalid reports are refused.
    let mut forged = second.clone();
    forged.config = "{\"replicas\": 5}".into();
    assert!(matches!(
        store.actual_put(&forged),
        Err(StoreError::Invalid(_))
    ));
    let nameless = ActualReport::new("", "web", "bot", 1, "aa", "{}");
    assert!(matches!(
        store.actual_put(&nameless),
        Err(StoreError::Invalid(_))
    ));
    // A row changed behind the store's back is damaged data, never served.
    (fx.sql)(
        "UPDATE strata_actual SET config = '{\"replicas\": 99}' WHERE service = 'web' AND target = 'prod/aws/us-east-1'",
    );
    assert!(matches!(
        store.actual_get("prod/aws/us-east-1", "web"),
        Err(StoreError::Corrupt { .. })
    ));
}
