//! Glue for the project's own simulator (`tests/simulator`, crate `proxmox-sim`).

use crate::catalogue::{Fault, Feature, PeerControl, PeerKind, PeerProfile, TfaAccount};
use crate::peer::PeerError;
use proxmox_sim::{Config, Service, Simulator};

/// Start a PVE simulator with test defaults (free port, HTTPS, manual clock, tasks that end at
/// once).
pub fn start_simulator() -> Result<Simulator, PeerError> {
    Simulator::start(Config::new(Service::Pve))
        .map_err(|e| PeerError::new("simulator", format!("cannot start: {e}")))
}

impl PeerControl for Simulator {
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
            ],
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
