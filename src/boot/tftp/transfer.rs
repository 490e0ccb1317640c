//! One read transfer: option negotiation, then DATA blocks in windows (1 = RFC 1350 lock-step), resent from the
//! last acknowledged block on timeout or when the client reports a gap.
//!
//! A state machine rather than a task: it owns its socket (its TID, connected to the client) but never waits.
//! Its worker ([`super::worker`]) calls it when the socket is readable or writable and when its deadline has
//! passed, so one thread drives every transfer of its clients without a wake-up per ACK.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::time::Instant;

use bytes::Bytes;

use super::packet::{self, Options, Reply, Request};
use crate::model::boot::BootOutcome;

/// Timeouts in a row before a transfer is given up.
const RETRIES: u32 = 5;

/// Where a transfer stands after a step.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    Running,
    /// The bytes the client acknowledged, and the outcome.
    Done(u64, BootOutcome),
}

pub struct Transfer {
    /// Non-blocking, connected to the client.
    pub socket: UdpSocket,
    content: Bytes,
    options: Options,
    /// Sent until the client confirms it with ACK 0; `None` once it has (or when no option was accepted).
    oack: Option<Vec<u8>>,
    /// Always ends with a short block, empty when the size is a multiple of the block size.
    blocks: u64,
    /// The index of the first block not yet acknowledged; block index i travels as number i + 1 (mod 2^16).
    base: u64,
    /// The next block of the window to send: below `end` only while the socket's send buffer is full.
    next: u64,
    end: u64,
    /// Timeouts in a row.
    tries: u32,
    /// When the client has been silent for too long: resend (or give up).
    pub deadline: Instant,
}

impl Transfer {
    /// Negotiates the request's options and sends the first packet: the OACK, or the first window.
    pub fn start(
        socket: UdpSocket,
        content: Bytes,
        request: &Request,
        now: Instant,
        datagram: &mut [u8],
    ) -> (Transfer, Progress) {
        let (options, accepted) = packet::negotiate(request, content.len() as u64);
        let blocks = content.len() as u64 / options.block_size as u64 + 1;
        let mut transfer = Transfer {
            socket,
            content,
            options,
            oack: (!accepted.is_empty()).then(|| packet::oack(&accepted)),
            blocks,
            base: 0,
            next: 0,
            end: 0,
            tries: 0,
            deadline: now + options.timeout,
        };
        let progress = if transfer.oack.is_some() {
            transfer.send_oack(now)
        } else {
            transfer.send_window(now, datagram)
        };
        (transfer, progress)
    }

    /// True while part of the window waits for room in the socket's send buffer.
    pub fn blocked(&self) -> bool {
        self.next < self.end
    }

    /// The socket has room again: sends the rest of the window.
    pub fn writable(&mut self, now: Instant, datagram: &mut [u8]) -> Progress {
        if self.blocked() {
            self.send_window(now, datagram)
        } else {
            Progress::Running
        }
    }

    /// The socket has a datagram (or an error, e.g. the client's port is closed): reads one and acts on it.
    pub fn readable(&mut self, now: Instant, datagram: &mut [u8], reply: &mut [u8]) -> Progress {
        let n = match self.socket.recv(reply) {
            Ok(n) => n,
            Err(err) if err.kind() == ErrorKind::WouldBlock => return Progress::Running,
            Err(_) => return self.aborted(),
        };
        let reply = packet::parse_reply(&reply[..n]);
        if self.oack.is_some() {
            return match reply {
                Some(Reply::Ack(0)) => {
                    self.oack = None;
                    self.send_window(now, datagram)
                }
                Some(Reply::Error(..)) => self.aborted(),
                // Anything else gets the OACK again, as the client may not have seen it.
                _ => self.send_oack(now),
            };
        }
        match reply {
            Some(Reply::Ack(number)) => {
                // How far past the last acknowledged block (index base - 1, number `base`) this ACK reaches.
                let advance = u64::from(number.wrapping_sub(self.base as u16));
                if (1..=self.next - self.base).contains(&advance) {
                    self.base += advance;
                    self.tries = 0;
                    if self.base == self.blocks {
                        return Progress::Done(self.content.len() as u64, BootOutcome::Ok);
                    }
                    return self.send_window(now, datagram);
                }
                // A repeated ACK of the block before the window: with windows, the client reports a gap
                // (resend from there); in lock-step, resending would start the Sorcerer's Apprentice.
                if advance == 0 && self.options.window_size > 1 {
                    return self.send_window(now, datagram);
                }
                Progress::Running
            }
            Some(Reply::Error(code, message)) => {
                tracing::debug!(code, message, "TFTP client ended the transfer");
                self.aborted()
            }
            None => Progress::Running,
        }
    }

    /// The deadline has passed with no progress: sends the OACK or the window again, or gives up.
    pub fn timed_out(&mut self, now: Instant, datagram: &mut [u8]) -> Progress {
        self.tries += 1;
        if self.tries > RETRIES {
            return self.aborted();
        }
        if self.oack.is_some() {
            self.send_oack(now)
        } else {
            self.send_window(now, datagram)
        }
    }

    fn send_oack(&mut self, now: Instant) -> Progress {
        let oack = self.oack.as_deref().unwrap_or_default();
        match self.socket.send(oack) {
            // A full send buffer on the first packet is a lost packet: the deadline sends it again.
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::WouldBlock => {}
            Err(_) => return self.aborted(),
        }
        self.deadline = now + self.options.timeout;
        Progress::Running
    }

    /// Sends the window from `base` (or, when the send buffer was full, from where it stopped).
    fn send_window(&mut self, now: Instant, datagram: &mut [u8]) -> Progress {
        if !self.blocked() {
            self.next = self.base;
            self.end = (self.base + u64::from(self.options.window_size)).min(self.blocks);
        }
        let block_size = self.options.block_size;
        while self.next < self.end {
            let start = (self.next as usize * block_size).min(self.content.len());
            let chunk = &self.content[start..(start + block_size).min(self.content.len())];
            packet::data_header(datagram, (self.next + 1) as u16);
            datagram[4..4 + chunk.len()].copy_from_slice(chunk);
            match self.socket.send(&datagram[..4 + chunk.len()]) {
                Ok(_) => self.next += 1,
                // The worker waits for the socket to be writable, then calls `writable`.
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(_) => return self.aborted(),
            }
        }
        // The client has a full timeout from the last block sent (or from the stall, as a bound on it).
        self.deadline = now + self.options.timeout;
        Progress::Running
    }

    fn aborted(&self) -> Progress {
        let acked = (self.base * self.options.block_size as u64).min(self.content.len() as u64);
        Progress::Done(acked, BootOutcome::Aborted)
    }
}
