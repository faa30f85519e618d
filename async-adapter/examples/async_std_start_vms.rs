//! Start 20 VMs on async-std (surf transport) and wait for all of them with a live progress
//! line.
//!
//! ```sh
//! cargo run -p proxmox-async --features surf --example async_std_start_vms        # embedded simulator
//! PROXMOX_URL=... PROXMOX_NODE=pve1 PROXMOX_VMIDS=100,101,102 ... \
//!   cargo run -p proxmox-async --features surf --example async_std_start_vms
//! ```

mod common;

#[async_std::main]
async fn main() -> common::Fallible<()> {
    let (client, sim) = common::connect(proxmox_async::Backend::Surf)?;
    let (node, vmids) = common::vms_to_start(&client, sim.is_some()).await?;
    common::start_all(&client, &node, &vmids).await
}
