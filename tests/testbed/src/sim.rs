//! Glue for the project's own simulator (`tests/simulator`, crate `proxmox-sim`).

use crate::catalogue::{
    Fault, Feature, MIRROR_SHA256SUMS, PeerControl, PeerKind, PeerProfile, TfaAccount,
};
use crate::peer::PeerError;
use proxmox_sim::{Config, Service, Simulator};

/// Start a PVE simulator with test defaults (free port, HTTPS, manual clock, tasks that end at
/// once), serving a checksum mirror at `/dashboard/` ([`MIRROR_SHA256SUMS`] as `SHA256SUMS`).
pub fn start_simulator() -> Result<Simulator, PeerError> {
    let fail = |e: std::io::Error| PeerError::new("simulator", format!("cannot start: {e}"));
    let dir = crate::peers_dir().join(format!("sim-mirror-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(fail)?;
    // Written aside and renamed: simulators of parallel tests serve the same file.
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let aside = dir.join(format!(".SHA256SUMS.{n}"));
    std::fs::write(&aside, MIRROR_SHA256SUMS).map_err(fail)?;
    std::fs::rename(&aside, dir.join("SHA256SUMS")).map_err(fail)?;
    let mut config = Config::new(Service::Pve);
    config.static_dir = Some(dir);
    Simulator::start(config).map_err(fail)
}

/// `https://localhost:PORT/dashboard` when the simulator serves [`MIRROR_SHA256SUMS`] there
/// (by name, as mirrors are, and as every backend can reach over TLS: surf cannot verify a
/// certificate for an IP address).
fn mirror(sim: &Simulator) -> Option<String> {
    let sums = std::fs::read_to_string(sim.static_dir()?.join("SHA256SUMS")).ok()?;
    let scheme = sim.base_url().split_once("://")?.0.to_owned();
    (sums == MIRROR_SHA256SUMS)
        .then(|| format!("{scheme}://localhost:{}/dashboard", sim.addr().port()))
}

impl PeerControl for Simulator {
    fn plan_long_task(&mut self) -> Result<(), String> {
        // A day of simulated time: the catalogue's simulator has a manual clock.
        self.plan_next_task(
            proxmox_sim::TaskPlan::new(proxmox_sim::TaskOutcome::Ok)
                .duration(std::time::Duration::from_secs(86_400)),
        );
        Ok(())
    }

    fn profile(&self) -> PeerProfile {
        let header = self.token_header().unwrap_or_default();
        let prefix = format!("PVEAPIToken={}=", proxmox_sim::TOKEN_ID);
        let secret = header
            .strip_prefix(&prefix)
            .unwrap_or(proxmox_sim::TOKEN_SECRET)
            .to_owned();
        PeerProfile {
            kind: PeerKind::Simulator,
            node: self.service().node().to_owned(),
            user: proxmox_sim::ROOT_USER.to_owned(),
            password: self.root_password().to_owned(),
            token_id: proxmox_sim::TOKEN_ID.to_owned(),
            token_secret: secret,
            limited_user: Some((
                proxmox_sim::LIMITED_USER.to_owned(),
                proxmox_sim::LIMITED_PASSWORD.to_owned(),
            )),
            tfa: Some(TfaAccount {
                user: proxmox_sim::TFA_USER.to_owned(),
                password: proxmox_sim::TFA_PASSWORD.to_owned(),
                code: proxmox_sim::TOTP_CODE.to_owned(),
            }),
            features: vec![
                Feature::Tfa,
                Feature::LimitedUser,
                Feature::FaultInjection,
                Feature::UnknownPath501,
                Feature::Upload,
                Feature::DownloadUrl,
                Feature::TaskCancel,
                Feature::ClusterStatus,
            ]
            .into_iter()
            .chain(mirror(self).map(|_| Feature::ChecksumMirror))
            .collect(),
            mirror: mirror(self),
        }
    }

    fn inject(&mut self, fault: &Fault) -> Result<(), String> {
        Simulator::inject(
            self,
            proxmox_sim::Fault::status(
                fault.method.as_http().as_str(),
                &fault.path,
                fault.status,
                &fault.message,
            )
            .times(fault.times)
            // Like fakepve and pve-http-server 5.2+: the message in the body too (the simulator's
            // default fault body is `{"data":null}`, message in the reason phrase only).
            .with_body(
                &serde_json::json!({"data": null, "message": format!("{}\n", fault.message)})
                    .to_string(),
            ),
        );
        Ok(())
    }
}
