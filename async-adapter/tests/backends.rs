//! proxmox-async over each built-in transport whose feature is on (hyper, reqwest, surf),
//! against the simulator, fakepve and a CONNECT proxy: one test list
//! ([`backend_tests!`](common)) expanded per backend.
#![cfg(any(feature = "hyper", feature = "reqwest", feature = "surf"))]

#[macro_use]
mod common;

#[cfg(feature = "hyper")]
mod hyper {
    backend_tests!(proxmox_async::Backend::Hyper);
    cluster_tests!(proxmox_async::Backend::Hyper);
}

#[cfg(feature = "reqwest")]
mod reqwest {
    backend_tests!(proxmox_async::Backend::Reqwest);
    cluster_tests!(proxmox_async::Backend::Reqwest);
}

#[cfg(feature = "surf")]
mod surf {
    backend_tests!(proxmox_async::Backend::Surf);

    #[test]
    fn a_pin_store_is_refused_at_build() {
        let e = proxmox_async::Client::builder("pve1.example.com")
            .backend(proxmox_async::Backend::Surf)
            .api_token("a@pve!b", "c")
            .pins(proxmox_proto::pins::PinStore::new())
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("pin store") && e.contains("reqwest"), "{e}");
    }
}
