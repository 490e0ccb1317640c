//! One read transfer: option negotiation, then DATA blocks in windows (1 = RFC 1350 lock-step), resent from the
//! last acknowledged block on timeout or when the client reports a gap.

use tokio::net::UdpSocket;
use tokio::time::timeout;

use super::packet::{self, Reply, Request};
use crate::model::boot::BootOutcome;

/// Timeouts in a row before a transfer is given up.
const RETRIES: u32 = 5;

/// Sends `content`; returns the bytes the client acknowledged and the outcome.
pub async fn send(socket: &UdpSocket, content: &[u8], request: &Request) -> (u64, BootOutcome) {
    let (options, accepted) = packet::negotiate(request, content.len() as u64);
    let mut reply = [0u8; 1024];
    if !accepted.is_empty() {
        // The client confirms the OACK with ACK 0.
        let oack = packet::oack(&accepted);
        let mut tries = 0;
        loop {
            if socket.send(&oack).await.is_err() {
                return (0, BootOutcome::Aborted);
            }
            match timeout(options.timeout, socket.recv(&mut reply)).await {
                Ok(Ok(n)) => match packet::parse_reply(&reply[..n]) {
                    Some(Reply::Ack(0)) => break,
                    Some(Reply::Error(..)) => return (0, BootOutcome::Aborted),
                    _ => {}
                },
                Ok(Err(_)) => return (0, BootOutcome::Aborted),
                Err(_) => {
                    tries += 1;
                    if tries > RETRIES {
                        return (0, BootOutcome::Aborted);
                    }
                }
            }
        }
    }

    let block_size = options.block_size;
    let window = u64::from(options.window_size);
    // Always ends with a short block, empty when the size is a multiple of the block size.
    let blocks = content.len() as u64 / block_size as u64 + 1;
    let acked_bytes = |base: u64| (base * block_size as u64).min(content.len() as u64);
    let mut datagram = vec![0u8; 4 + block_size];
    // `base` is the index of the first block not yet acknowledged; block index i travels as number i + 1 (mod 2^16).
    let mut base = 0u64;
    let mut tries = 0;
    while base < blocks {
        let end = (base + window).min(blocks);
        for index in base..end {
            let start = index as usize * block_size;
            let chunk = &content[start.min(content.len())..(start + block_size).min(content.len())];
            packet::data_header(&mut datagram, (index + 1) as u16);
            datagram[4..4 + chunk.len()].copy_from_slice(chunk);
            if socket.send(&datagram[..4 + chunk.len()]).await.is_err() {
                return (acked_bytes(base), BootOutcome::Aborted);
            }
        }
        // Wait until the client acknowledges something in this window, or time out and send it again.
        loop {
            let n = match timeout(options.timeout, socket.recv(&mut reply)).await {
                Ok(Ok(n)) => n,
                Ok(Err(_)) => return (acked_bytes(base), BootOutcome::Aborted),
                Err(_) => {
                    tries += 1;
                    if tries > RETRIES {
                        return (acked_bytes(base), BootOutcome::Aborted);
                    }
                    break;
                }
            };
            match packet::parse_reply(&reply[..n]) {
                Some(Reply::Ack(number)) => {
                    // How far past the last acknowledged block (index base - 1, number `base`) this ACK reaches.
                    let advance = u64::from(number.wrapping_sub(base as u16));
                    if (1..=end - base).contains(&advance) {
                        base += advance;
                        tries = 0;
                        break;
                    }
                    // A repeated ACK of the block before the window: with windows, the client reports a gap
                    // (resend from there); in lock-step, resending would start the Sorcerer's Apprentice.
                    if advance == 0 && window > 1 {
                        break;
                    }
                }
                Some(Reply::Error(code, message)) => {
                    tracing::debug!(code, message, "TFTP client ended the transfer");
                    return (acked_bytes(base), BootOutcome::Aborted);
                }
                None => {}
            }
        }
    }
    (content.len() as u64, BootOutcome::Ok)
}
