//! The catalogue against the project's own simulator, through the minimal ureq driver.

mod common;

use common::UreqDriver;
use proxmox_testbed::catalogue::Outcome;
use proxmox_testbed::proxmox_sim::AuthKind;
use proxmox_testbed::{PeerControl, catalogue, run_catalogue, start_simulator};

#[test]
fn catalogue_runs_against_the_simulator() {
    let mut sim = start_simulator().expect("the simulator starts (no external peer needed)");
    let mut driver = UreqDriver::new(&sim.base_url(), sim.ca_pem());
    let report = run_catalogue(&mut driver, &mut sim);
    // The simulator offers every feature: only the scenarios of the clients' common surface
    // skip, as this raw driver has no client (each adapter's catalogue test runs them).
    let skipped: Vec<&str> = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
        .map(|r| r.name)
        .collect();
    let surface: Vec<&str> = catalogue()
        .into_iter()
        .filter(|s| s.uses_surface())
        .map(|s| s.name)
        .collect();
    assert!(surface.len() >= 7, "{surface:?}");
    assert_eq!(skipped, surface, "{report}");
    // The request log saw the three kinds of login the catalogue uses.
    let log = sim.requests();
    assert!(
        log.iter().any(|r| r.auth == AuthKind::Token),
        "no token call"
    );
    assert!(
        log.iter().any(|r| r.auth == AuthKind::TicketCookie),
        "no ticket call"
    );
    assert_eq!(sim.uploads().len(), 1);
    let dl = sim.downloads();
    assert_eq!(dl.len(), 1);
    assert!(
        dl[0]
            .params
            .iter()
            .any(|(k, v)| k == "checksum-algorithm" && v == "sha256"),
        "{:?}",
        dl[0].params
    );
    assert_eq!(sim.profile().node, "pve1");
}
