//! `connect-migration-3scale` refuses to start 3scale on the migration cluster before the
//! migration account's stores are connected, and changes nothing. (Its whole run, from the
//! secrets dump to zync's routes, is in the headless rehearsal.)

use crate::cli::{Migration, skip_steps, threescale_toml, write_kubeconfigs};
use crate::dumps::last_finished;

const CONNECT: &str = "connect-migration-3scale";

#[test]
fn without_the_connection_secrets_the_step_names_them_and_changes_nothing() {
    let mut m = Migration::new(
        "connect",
        &threescale_toml("connect", "red-hat", "limited", ""),
    );
    write_kubeconfigs(&mut m);
    skip_steps(&m, None, CONNECT, None);
    m.run(&[
        "run",
        "--headless",
        "--until",
        CONNECT,
        "--confirm",
        CONNECT,
    ])
    .expect_code(1);
    let done = last_finished(&m, CONNECT);
    let summary = done["summary"].as_str().unwrap_or("");
    for name in ["system-database", "backend-redis", "system-redis"] {
        assert!(summary.contains(&format!("secret {name}")), "{summary}");
    }
    assert!(
        summary.contains("kubectl --context mig -n 3scale create secret generic system-database")
            && summary.contains("nothing was changed"),
        "{summary}"
    );
    let migration = &m.clusters.as_ref().expect("simulated clusters").migration;
    assert!(
        migration
            .list_objects("apps.3scale.net/v1alpha1", "APIManager", None, None)
            .is_empty(),
        "no APIManager made"
    );
    assert!(
        migration
            .list_objects("v1", "Secret", Some("3scale"), None)
            .is_empty(),
        "no secret applied"
    );
}
