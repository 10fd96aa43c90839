//! The registry migration's live panels on whole screens (TestBackend): the Velero panel with
//! its Backup and the restore's stages beside the registry's pods, and the transfer's line while
//! the backup's objects are copied, at the smallest screen and a large one, in every theme
//! without colour carrying the meaning alone.

use std::path::Path;

use cutover::config::Config;
use cutover::event::{Event, VeleroKind, VeleroSample, WorkloadSample};
use cutover::journal::JournalState;
use cutover::plan::plan;
use cutover::runbook::ids::TRANSFER_BACKUP;
use cutover::runbook::{Outcome, StepKind};
use cutover::ui::view::Panel;
use cutover::ui::{Theme, ViewState};
use serde_json::Map;

use crate::ui_snapshots::{SIZES, pass_until, running_in, screen, t, text, zoomed_shows};

/// The example config of a registry migration, as an operator starts from it.
const TOML: &str = include_str!("../../examples/velero-registry.toml");

const BACKUP: &str = "registry-acme-2026-11-23-09-00";

fn fresh() -> ViewState {
    let config = Config::parse(TOML, Path::new("/home/sre/registry/cutover.toml"))
        .unwrap_or_else(|e| panic!("the test config parses: {e:#}"));
    ViewState::from_config(&config, &plan(&config), &JournalState::default(), t(0))
}

fn object(
    kind: VeleroKind,
    name: &str,
    phase: &str,
    items: (u64, u64),
    warnings: u64,
    errors: u64,
) -> VeleroSample {
    VeleroSample {
        kind,
        name: name.into(),
        phase: phase.into(),
        items_done: items.0,
        total_items: items.1,
        warnings,
        errors,
        started: Some(t(60)),
    }
}

fn restore(
    stage: &str,
    phase: &str,
    items: (u64, u64),
    warnings: u64,
    errors: u64,
) -> VeleroSample {
    let name = format!("{BACKUP}-20261123101500-{stage}");
    object(VeleroKind::Restore, &name, phase, items, warnings, errors)
}

fn workload(name: &str, desired: u32, ready: u32, phase: &str) -> WorkloadSample {
    WorkloadSample {
        name: name.into(),
        desired,
        ready,
        current: desired.max(ready),
        phase: phase.into(),
        original: None,
    }
}

/// The staged restore on cluster B: init done with warnings, vault partly failed, nexus
/// restoring, gerrit not taken yet; the registry's workloads coming up.
pub(crate) fn restoring() -> ViewState {
    let (mut view, _, at) = running_in(fresh(), "restore-registry", 1);
    view.apply(
        &Event::VeleroObjects {
            scope: "destination / velero".into(),
            objects: vec![
                restore("gerrit", "New", (0, 0), 0, 0),
                restore("nexus", "InProgress", (41, 97), 0, 0),
                restore("vault", "PartiallyFailed", (12, 14), 1, 2),
                restore("init", "Completed", (1180, 1180), 23, 0),
                object(VeleroKind::Backup, BACKUP, "Completed", (1650, 1650), 0, 0),
            ],
        },
        t(at + 30),
    );
    view.apply(
        &Event::Workloads {
            scope: "destination / registry-acme".into(),
            workloads: vec![
                workload("statefulset/nexus", 1, 0, "Starting"),
                workload("statefulset/vault", 1, 0, "Degraded"),
                workload("deployment/registry-app", 0, 0, "Scaled down"),
            ],
        },
        t(at + 30),
    );
    view
}

/// The backup's objects on their way from A's storage to B's, the Backup on A listed.
pub(crate) fn transferring() -> ViewState {
    let mut view = fresh();
    let mut at = 0;
    pass_until(&mut view, "wait-backup-synced", &mut at);
    view.apply(
        &Event::StepStarted {
            step: TRANSFER_BACKUP,
            attempt: 1,
            runs_as: StepKind::Automated,
        },
        t(at + 1),
    );
    for (s, bytes, objects) in [(2, 0, 0), (12, 420 << 20, 310), (22, 900 << 20, 655)] {
        view.apply(
            &Event::StepProgress {
                step: TRANSFER_BACKUP,
                done: bytes,
                total: Some(3 << 30),
                unit: "bytes",
            },
            t(at + s),
        );
        view.apply(
            &Event::StepProgress {
                step: TRANSFER_BACKUP,
                done: objects,
                total: Some(2400),
                unit: "objects",
            },
            t(at + s),
        );
    }
    view.apply(
        &Event::VeleroObjects {
            scope: "source / velero".into(),
            objects: vec![object(
                VeleroKind::Backup,
                BACKUP,
                "Completed",
                (1650, 1650),
                0,
                0,
            )],
        },
        t(at + 22),
    );
    view
}

#[test]
fn the_staged_restore_at_80x24() {
    let view = restoring();
    let shown = text(&screen(&view, &Theme::default(), 80, 24));
    for expected in ["Velero ·", "Pods ·", "nexus", "vault"] {
        assert!(shown.contains(expected), "no {expected}\n{shown}");
    }
    insta::assert_snapshot!(screen(&view, &Theme::default(), 80, 24));
}

#[test]
fn the_staged_restore_at_200x50() {
    let view = restoring();
    let shown = text(&screen(&view, &Theme::default(), 200, 50));
    // The stages by their own names, the shared prefix said once in the title.
    assert!(
        shown.contains(&format!("restores {BACKUP}-20261123101500-")),
        "{shown}"
    );
    for expected in [
        "↻ nexus",
        "InProgress",
        "41/97",
        "1180/1180",
        "2 err 1 warn",
        "23 warn",
    ] {
        assert!(shown.contains(expected), "no {expected}\n{shown}");
    }
    assert!(
        !shown.contains(&format!("{BACKUP}-20261123101500-vault")),
        "a restore's whole name\n{shown}"
    );
    insta::assert_snapshot!(screen(&view, &Theme::default(), 200, 50));
}

#[test]
fn the_transfer_line_shows_bytes_rate_and_objects_while_the_transfer_runs() {
    let mut view = transferring();
    for (w, h) in [(80, 24), (200, 50)] {
        let shown = text(&screen(&view, &Theme::default(), w, h));
        assert!(
            shown.contains("transfer 900 MiB/3.0 GiB 29%"),
            "{w}x{h}\n{shown}"
        );
        if w == 200 {
            // 480 MiB in the last ten seconds.
            assert!(shown.contains("48.0 MiB/s"), "{shown}");
            assert!(shown.contains("655/2400 objects"), "{shown}");
        }
    }
    insta::assert_snapshot!(screen(&view, &Theme::default(), 200, 50));
    view.apply(
        &Event::StepFinished {
            step: TRANSFER_BACKUP,
            outcome: Outcome::Passed,
            summary: "copied".into(),
            figures: Map::new(),
        },
        t(100),
    );
    let shown = text(&screen(&view, &Theme::default(), 200, 50));
    assert!(!shown.contains("transfer "), "{shown}");
}

#[test]
fn phases_and_errors_read_without_colour() {
    let mut view = restoring();
    // The smallest screen starts at the stage under way.
    let shown = text(&screen(&view, &Theme::mono(), 80, 24));
    assert!(shown.contains("↻ nexus"), "{shown}");
    // Glyphs and words carry what colours add: a narrow panel counts in words, a wide one
    // under a heading.
    view.focus = Panel::Velero;
    for (w, h, expected) in [
        (100, 40, ["✓ init", "! vault", "2 err", "23 warn"]),
        (
            200,
            50,
            ["PartiallyFailed", "↻ nexus", "warnings", "errors"],
        ),
    ] {
        // The whole screen for the wide table.
        view.zoomed = w == 200;
        let shown = text(&screen(&view, &Theme::mono(), w, h));
        for e in expected {
            assert!(shown.contains(e), "{w}x{h}: no {e} in mono\n{shown}");
        }
    }
}

#[test]
fn the_velero_panel_zooms_to_show_every_row() {
    zoomed_shows(
        restoring(),
        Panel::Velero,
        &["gerrit", "nexus", "vault", "init", BACKUP],
    );
}

#[test]
fn every_size_and_theme_draws_the_velero_panel_without_breaking() {
    let mut narrow = restoring();
    narrow.velero_scroll = 99;
    narrow.focus = Panel::Velero;
    for theme in [Theme::default(), Theme::contrast(), Theme::mono()] {
        for view in [&restoring(), &transferring(), &narrow] {
            for (w, h) in SIZES {
                let shown = text(&screen(view, &theme, w, h));
                assert!(shown.contains("Velero ·"), "{w}x{h}: no panel\n{shown}");
            }
        }
    }
}
