//! A worker: one thread, one epoll instance, one listening socket (shared through `SO_REUSEPORT` with the other
//! workers) and every transfer its clients start.
//!
//! Why a thread with its own event loop rather than a tokio task per transfer: in a boot storm, the cost per
//! DATA block is what counts, and on tokio a block cost a `recv` that succeeds, a second one that finds the socket
//! empty (how a task learns it must wait), a timer re-armed and a task woken, often on the other core. Here a
//! block costs one `recv` and one `send`: epoll is level-triggered, so a readable socket is read exactly once per
//! report and never drained to `EWOULDBLOCK`, and one `epoll_wait` reports every socket that an ACK reached in the
//! meantime. Retransmission deadlines live in a heap in the same thread; nothing crosses threads per packet.
//!
//! Each transfer keeps its own socket: RFC 1350 has the server answer from a port (TID) of its own, and clients
//! (PXE ROMs included) check it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

use rustix::buffer::spare_capacity;
use rustix::event::{Timespec, epoll};

use super::packet::{self, MAX_BLOCK_SIZE};
use super::transfer::{Progress, Transfer};
use crate::boot::{Boot, Served};
use crate::model::boot::{BootOutcome, BootProtocol};

/// The listening socket's key in epoll; a transfer's key is its slot index + 1.
const LISTENER: u64 = 0;
/// Events taken per `epoll_wait`: enough for a storm's worth of ACKs at once.
const EVENTS: usize = 256;

struct Running {
    transfer: Transfer,
    peer: SocketAddr,
    file: String,
    started: Instant,
    /// Tells this transfer's deadline entries from those of an earlier transfer in the same slot.
    generation: u64,
    /// Whether epoll also reports writability (only while the send buffer is full).
    watching_writes: bool,
}

struct Worker {
    boot: Arc<Boot>,
    listener: UdpSocket,
    local_ip: IpAddr,
    epoll: rustix::fd::OwnedFd,
    slots: Vec<Option<Running>>,
    free: Vec<usize>,
    generation: u64,
    /// One entry per running transfer: (deadline, slot, generation). A transfer that made progress has a later
    /// deadline than its entry; the entry is pushed again when it comes up, so an ACK costs no heap operation.
    deadlines: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// Clients with a transfer running, by address: a client that repeats its request while the first one is
    /// being answered (a retransmitted RRQ) must not start a second transfer. `SO_REUSEPORT` hashes a client's
    /// address to one worker, so a repeated request reaches the worker that knows it.
    in_progress: HashSet<SocketAddr>,
    /// Where DATA blocks are built (header and payload).
    datagram: Vec<u8>,
    /// Where requests and replies are read: anything longer than this is malformed anyway.
    received: [u8; 2048],
}

/// Serves `listener` (non-blocking) until the process ends.
pub fn run(boot: Arc<Boot>, listener: UdpSocket) {
    let local_ip = listener.local_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let epoll = match epoll::create(epoll::CreateFlags::CLOEXEC).and_then(|epoll| {
        epoll::add(
            &epoll,
            &listener,
            epoll::EventData::new_u64(LISTENER),
            epoll::EventFlags::IN,
        )
        .map(|()| epoll)
    }) {
        Ok(epoll) => epoll,
        Err(err) => {
            tracing::error!(error = %err, "cannot start a TFTP worker");
            return;
        }
    };
    let mut worker = Worker {
        boot,
        listener,
        local_ip,
        epoll,
        slots: Vec::new(),
        free: Vec::new(),
        generation: 0,
        deadlines: BinaryHeap::new(),
        in_progress: HashSet::new(),
        datagram: vec![0; 4 + MAX_BLOCK_SIZE],
        received: [0; 2048],
    };
    let mut events = Vec::with_capacity(EVENTS);
    loop {
        let wait = worker.deadlines.peek().map(|Reverse((at, ..))| {
            let left = at.saturating_duration_since(Instant::now());
            Timespec::try_from(left).unwrap_or(Timespec { tv_sec: 1, tv_nsec: 0 })
        });
        events.clear();
        match epoll::wait(&worker.epoll, spare_capacity(&mut events), wait.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => {
                tracing::error!(error = %err, "TFTP worker stopped");
                return;
            }
        }
        let now = Instant::now();
        for event in &events {
            match event.data.u64() {
                LISTENER => worker.accept(now),
                key => worker.ready(key as usize - 1, event.flags, now),
            }
        }
        worker.expire(now);
    }
}

impl Worker {
    /// Reads every waiting request and starts a transfer for each.
    fn accept(&mut self, now: Instant) {
        loop {
            let (len, peer) = match self.listener.recv_from(&mut self.received) {
                Ok(received) => received,
                Err(err) if err.kind() == ErrorKind::WouldBlock => return,
                Err(err) => {
                    // E.g. an ICMP error for an earlier reply; the socket itself is fine.
                    tracing::debug!(error = %err, "TFTP receive error");
                    continue;
                }
            };
            let request = match packet::parse_request(&self.received[..len]) {
                Ok(request) => request,
                Err(reason) => {
                    self.boot.recorder.metrics().tftp_malformed();
                    tracing::debug!(peer = %peer, reason, "dropped a malformed TFTP packet");
                    continue;
                }
            };
            if request.write {
                self.boot.recorder.metrics().tftp_refused();
                tracing::warn!(peer = %peer, file = %request.filename, "refused a TFTP write request (read-only server)");
                let _ = self
                    .listener
                    .send_to(&packet::error(packet::ERR_ACCESS, "read-only server"), peer);
                continue;
            }
            if self.in_progress.contains(&peer) {
                continue;
            }
            self.start(peer, request, now);
        }
    }

    fn start(&mut self, peer: SocketAddr, request: packet::Request, now: Instant) {
        // Each transfer gets its own port (its TID), as RFC 1350 requires, connected to the client.
        let socket = match UdpSocket::bind((self.local_ip, 0)).and_then(|socket| {
            socket
                .connect(peer)
                .and_then(|()| socket.set_nonblocking(true))
                .map(|()| socket)
        }) {
            Ok(socket) => socket,
            Err(_) => {
                tracing::warn!(peer = %peer, "cannot open a socket for a TFTP transfer");
                return;
            }
        };
        let file: String = request.filename.chars().take(128).collect();
        let content = match super::content(&self.boot, &request.filename) {
            Ok(content) => content,
            Err(outcome) => {
                let message = if outcome == BootOutcome::NotFound {
                    "file not found"
                } else {
                    "cannot read file"
                };
                let _ = socket.send(&packet::error(packet::ERR_NOT_FOUND, message));
                self.record(peer, file, now, 0, outcome);
                return;
            }
        };
        let (transfer, progress) = Transfer::start(socket, content, &request, now, &mut self.datagram);
        if let Progress::Done(bytes, outcome) = progress {
            self.record(peer, file, now, bytes, outcome);
            return;
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        if let Err(err) = epoll::add(
            &self.epoll,
            &transfer.socket,
            epoll::EventData::new_u64(slot as u64 + 1),
            epoll::EventFlags::IN,
        ) {
            tracing::warn!(peer = %peer, error = %err, "cannot watch a TFTP transfer's socket");
            self.free.push(slot);
            return;
        }
        self.generation += 1;
        self.deadlines.push(Reverse((transfer.deadline, slot, self.generation)));
        self.in_progress.insert(peer);
        self.slots[slot] = Some(Running {
            transfer,
            peer,
            file,
            started: now,
            generation: self.generation,
            watching_writes: false,
        });
        self.watch(slot);
    }

    /// A transfer's socket is readable, writable or in error.
    fn ready(&mut self, slot: usize, flags: epoll::EventFlags, now: Instant) {
        let Some(running) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let mut progress = Progress::Running;
        if flags.contains(epoll::EventFlags::OUT) {
            progress = running.transfer.writable(now, &mut self.datagram);
        }
        if progress == Progress::Running
            && flags.intersects(epoll::EventFlags::IN | epoll::EventFlags::ERR | epoll::EventFlags::HUP)
        {
            progress = running.transfer.readable(now, &mut self.datagram, &mut self.received);
        }
        self.after(slot, progress);
    }

    /// Handles every deadline that has passed.
    fn expire(&mut self, now: Instant) {
        while let Some(&Reverse((at, slot, generation))) = self.deadlines.peek() {
            if at > now {
                return;
            }
            self.deadlines.pop();
            let Some(running) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if running.generation != generation {
                continue;
            }
            if running.transfer.deadline > now {
                // The transfer made progress since this entry was pushed: wait for its new deadline.
                self.deadlines
                    .push(Reverse((running.transfer.deadline, slot, generation)));
                continue;
            }
            let progress = running.transfer.timed_out(now, &mut self.datagram);
            if progress == Progress::Running {
                self.deadlines
                    .push(Reverse((running.transfer.deadline, slot, generation)));
            }
            self.after(slot, progress);
        }
    }

    /// After a step: ends a finished transfer, or watches writes while its send buffer is full.
    fn after(&mut self, slot: usize, progress: Progress) {
        match progress {
            Progress::Running => self.watch(slot),
            Progress::Done(bytes, outcome) => {
                let Some(running) = self.slots[slot].take() else {
                    return;
                };
                self.free.push(slot);
                self.in_progress.remove(&running.peer);
                // Closing the socket (dropping the transfer) also takes it out of epoll.
                self.record(running.peer, running.file, running.started, bytes, outcome);
            }
        }
    }

    fn watch(&mut self, slot: usize) {
        let Some(running) = self.slots[slot].as_mut() else {
            return;
        };
        let blocked = running.transfer.blocked();
        if blocked == running.watching_writes {
            return;
        }
        let flags = if blocked {
            epoll::EventFlags::IN | epoll::EventFlags::OUT
        } else {
            epoll::EventFlags::IN
        };
        match epoll::modify(
            &self.epoll,
            &running.transfer.socket,
            epoll::EventData::new_u64(slot as u64 + 1),
            flags,
        ) {
            Ok(()) => running.watching_writes = blocked,
            // Left as it was: a stalled window still goes out on the next timeout.
            Err(err) => tracing::warn!(error = %err, "cannot change what epoll watches on a TFTP transfer"),
        }
    }

    fn record(&self, peer: SocketAddr, file: String, started: Instant, bytes: u64, outcome: BootOutcome) {
        self.boot.recorder.record(Served {
            mac: None,
            client: peer.to_string(),
            protocol: BootProtocol::Tftp,
            file,
            bytes,
            duration: started.elapsed(),
            outcome,
            profile: None,
            arch: None,
        });
    }
}
