//! A Zero-OS node emulator: a Redis-protocol endpoint with the 0-core agent behind it, and a believable,
//! seed-determined machine. It lets `--demo`, the benchmarks and the tests run a cluster where no Zero-OS node
//! can run. Everything it answers is marked as emulated where the API shows it.

mod agent;
mod containers;
mod engines;
mod files;
mod gateway;
mod inventory;
mod jobs;
mod keyspace;
mod kvm;
mod nbd_servers;
mod network;
mod programs;
mod resp;
mod server;
mod storage;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

pub use agent::Agent;
#[cfg(test)]
pub use agent::run as agent_loop;
pub use inventory::Inventory;
use keyspace::Keyspace;
pub use wire::Lists;

use crate::zos::protocol::COMMAND_QUEUE;

/// A running emulated node.
pub struct SimNode {
    pub address: SocketAddr,
    pub inventory: Inventory,
}

/// Starts an emulated node on `listen` (port 0 picks one) with the inventory of `seed`.
pub async fn start(listen: SocketAddr, seed: u64, password: Option<String>) -> std::io::Result<SimNode> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let inventory = Inventory::from_seed(seed);
    let keyspace = Arc::new(Keyspace::default());
    let agent = Arc::new(Agent::new(inventory.clone()));
    tokio::spawn(server::serve(listener, keyspace.clone(), password));
    tokio::spawn(agent::run(agent, keyspace));
    Ok(SimNode { address, inventory })
}

impl Lists for Keyspace {
    async fn pop_command(&self) -> Option<Vec<u8>> {
        self.blpop(&[COMMAND_QUEUE.as_bytes().to_vec()], None)
            .await
            .map(|(_, value)| value)
    }

    async fn push(&self, key: &str, value: Vec<u8>) {
        self.rpush(key.as_bytes(), vec![value]);
    }

    async fn expire(&self, key: &str, seconds: u64) {
        Keyspace::expire(self, key.as_bytes(), seconds);
    }

    async fn exists(&self, key: &str) -> bool {
        Keyspace::exists(self, key.as_bytes())
    }
}
