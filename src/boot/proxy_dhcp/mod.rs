//! proxyDHCP (PXE specification, section 2.2.5): boot machines on a network whose DHCP server we do not control.
//!
//! The site's DHCP server keeps handing out addresses; we answer the same broadcast discovers, but only from PXE
//! clients and only with where to boot from: next-server (our address on that interface) and a boot file:
//! `undionly.kpxe` for BIOS ROMs, `snponly.efi` for x86-64 UEFI, and for iPXE (which is what those load) the
//! HTTP URL of its boot script. PXE clients then ask us again on port 4011, which gets the same answer.
//!
//! Both sockets are bound to the interface (SO_BINDTODEVICE), so nothing is answered, or broadcast, on any other
//! network. Parsing and encoding are dhcproto's ([`packet`] checks the bytes first); the decisions are in
//! [`client`] and [`limit`]. Every answer is a boot event; every packet not answered is counted in `/metrics`.
//!
//! Why dhcproto: a maintained DHCPv4 codec with typed options, the PXE ones of RFC 4578 included, written for a
//! production DHCP server; it encodes exactly what we set (no hidden defaults), and its cost is a dependency on
//! hickory-proto for domain-name options we never touch.

mod client;
mod limit;
mod packet;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dhcproto::v4::{Message, MessageType};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::{Boot, Served};
use crate::model::boot::{BootOutcome, BootProtocol};
use client::{Client, Ignored, Port};

const DHCP_SERVER_PORT: u16 = 67;
const DHCP_CLIENT_PORT: u16 = 68;
const PXE_PORT: u16 = 4011;

/// Binds both ports on `interface` now (so a missing interface or a taken port fails at start); returns our
/// address there and the serving future.
pub fn bind(
    boot: Arc<Boot>,
    interface: &str,
) -> std::io::Result<(Ipv4Addr, impl std::future::Future<Output = ()> + Send + use<>)> {
    let address = interface_address(interface)?;
    let dhcp = bind_udp(interface, DHCP_SERVER_PORT)?;
    let pxe = bind_udp(interface, PXE_PORT)?;
    let proxy = Proxy {
        chain_url: boot.dhcp_chain_url(address),
        boot,
        address,
    };
    Ok((address, proxy.serve(dhcp, pxe)))
}

fn socket(interface: &str) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket
        .bind_device(Some(interface.as_bytes()))
        .map_err(|err| std::io::Error::new(err.kind(), format!("cannot bind to interface {interface}: {err}")))?;
    socket.set_broadcast(true)?;
    Ok(socket)
}

fn bind_udp(interface: &str, port: u16) -> std::io::Result<UdpSocket> {
    let socket = socket(interface)?;
    socket.set_nonblocking(true)?;
    socket
        .bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())
        .map_err(|err| std::io::Error::new(err.kind(), format!("cannot bind UDP port {port}: {err}")))?;
    UdpSocket::from_std(socket.into())
}

/// The interface's IPv4 address, as the kernel picks it for a broadcast out of that interface: connecting a
/// UDP socket sends nothing, but chooses the source address (no getifaddrs, no unsafe code).
fn interface_address(interface: &str) -> std::io::Result<Ipv4Addr> {
    let socket = socket(interface)?;
    let no_address = || std::io::Error::other(format!("interface {interface} has no IPv4 address"));
    socket
        .connect(&SocketAddr::from((Ipv4Addr::BROADCAST, DHCP_CLIENT_PORT)).into())
        .map_err(|_| no_address())?;
    match socket.local_addr()?.as_socket() {
        Some(SocketAddr::V4(local)) if !local.ip().is_unspecified() => Ok(*local.ip()),
        _ => Err(no_address()),
    }
}

struct Proxy {
    boot: Arc<Boot>,
    /// Our address on the interface: next-server and server identifier.
    address: Ipv4Addr,
    /// The boot file for clients that already run iPXE.
    chain_url: String,
}

impl Proxy {
    /// One task for both ports, so the rate limit needs no lock; answering never waits for anything but the
    /// send (boot events go through the recorder's queue).
    async fn serve(self, dhcp: UdpSocket, pxe: UdpSocket) {
        let mut limit = limit::RateLimit::default();
        // One byte more than the largest packet accepted, so that an oversized datagram shows.
        let (mut dhcp_buffer, mut pxe_buffer) = (vec![0u8; packet::MAX_PACKET + 1], vec![0u8; packet::MAX_PACKET + 1]);
        loop {
            let (port, socket, received, buffer) = tokio::select! {
                received = dhcp.recv_from(&mut dhcp_buffer) => (Port::Dhcp, &dhcp, received, &dhcp_buffer),
                received = pxe.recv_from(&mut pxe_buffer) => (Port::Pxe, &pxe, received, &pxe_buffer),
            };
            let (len, peer) = match received {
                Ok(received) => received,
                Err(err) => {
                    tracing::debug!(error = %err, "proxyDHCP receive error");
                    continue;
                }
            };
            if let Some((answer, to)) = self.handle(&mut limit, port, &buffer[..len], peer)
                && let Err(err) = socket.send_to(&answer, to).await
            {
                tracing::warn!(to = %to, error = %err, "cannot send a proxyDHCP answer");
            }
        }
    }

    /// The answer to one datagram and where it goes, or `None` (counted, and for PXE clients we have nothing
    /// for, recorded).
    fn handle(
        &self,
        limit: &mut limit::RateLimit,
        port: Port,
        bytes: &[u8],
        peer: SocketAddr,
    ) -> Option<(Vec<u8>, SocketAddr)> {
        let metrics = self.boot.recorder.metrics();
        let request = packet::parse(bytes)
            .inspect_err(|reason| {
                metrics.dhcp_malformed(reason.label());
                tracing::debug!(peer = %peer, reason = reason.label(), "dropped a malformed DHCP packet");
            })
            .ok()?;
        let ignore = |reason: Ignored| metrics.dhcp_ignored(reason.label());
        let client = client::classify(&request, port)
            .inspect_err(|reason| ignore(*reason))
            .ok()?;
        if !limit.allow(client.mac, Instant::now()) {
            ignore(Ignored::RateLimited);
            return None;
        }
        let file = client::boot_file(&client, &self.chain_url);
        self.record(&client, peer, file.as_deref());
        let Some(file) = file else {
            // Not a warning: anyone can send these; the boot event (outcome not_found) is what operators see.
            tracing::debug!(mac = %client.mac_text(), arch = %client.firmware.label(), "PXE client with no iPXE binary for its architecture");
            return None;
        };
        let reply = packet::Reply {
            kind: match port {
                Port::Dhcp => MessageType::Offer,
                Port::Pxe => MessageType::Ack,
            },
            server: self.address,
            file,
            skip_discovery: client.ipxe || client.firmware == client::Firmware::Bios,
        };
        match packet::answer(&request, &reply) {
            Ok(answer) => Some((answer, destination(&request, port, peer))),
            Err(err) => {
                tracing::warn!(mac = %client.mac_text(), error = %err, "cannot encode a proxyDHCP answer");
                None
            }
        }
    }

    fn record(&self, client: &Client, peer: SocketAddr, file: Option<&str>) {
        self.boot.recorder.record(Served {
            mac: Some(client.mac_text()),
            client: peer.to_string(),
            protocol: BootProtocol::Dhcp,
            file: file.unwrap_or("").chars().take(128).collect(),
            bytes: 0,
            duration: Duration::ZERO,
            outcome: if file.is_some() {
                BootOutcome::Ok
            } else {
                BootOutcome::NotFound
            },
            profile: None,
            arch: Some(client.firmware.label()),
        });
    }
}

/// Offers go to the relay that forwarded the discover, else to everyone (the client has no address yet);
/// acks on 4011 go back to the client, which has its address by then.
fn destination(request: &Message, port: Port, peer: SocketAddr) -> SocketAddr {
    let relay = request.giaddr();
    match port {
        Port::Dhcp if !relay.is_unspecified() => SocketAddrV4::new(relay, DHCP_SERVER_PORT).into(),
        Port::Dhcp => SocketAddrV4::new(Ipv4Addr::BROADCAST, DHCP_CLIENT_PORT).into(),
        Port::Pxe => peer,
    }
}
