//! What this replica counted and has not published yet: the only part of
//! replication on the request path. A push encodes one record and takes one
//! short lock; it never waits for Redis. Bounded: when Redis is away longer
//! than the buffer lasts, the oldest records go first (they matter least:
//! they are the closest to leaving the scoring windows).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::clock::Timestamp;
use crate::number::Classification;
use crate::policy::{CountSink, Delivery, SendFacts};

use super::metrics::SharedMetrics;
use super::wire::{self, SendEvent};

pub struct Outbox {
    records: Mutex<VecDeque<Vec<u8>>>,
    capacity: usize,
    metrics: Arc<SharedMetrics>,
}

impl Outbox {
    pub fn new(capacity: usize, metrics: Arc<SharedMetrics>) -> Outbox {
        Outbox {
            records: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            metrics,
        }
    }

    fn push(&self, record: Vec<u8>) {
        if record.is_empty() {
            return;
        }
        let mut q = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= self.capacity {
            q.pop_front();
            self.metrics.dropped.fetch_add(1, Ordering::Relaxed);
        }
        q.push_back(record);
        self.metrics
            .buffered
            .store(q.len() as u64, Ordering::Relaxed);
    }

    /// Up to `max` of the oldest records, removed from the buffer.
    pub fn take(&self, max: usize) -> Vec<Vec<u8>> {
        let mut q = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let n = q.len().min(max);
        let out = q.drain(..n).collect();
        self.metrics
            .buffered
            .store(q.len() as u64, Ordering::Relaxed);
        out
    }

    /// Puts records that could not be published back in front of newer
    /// ones, within the capacity (the oldest beyond it are dropped).
    pub fn give_back(&self, records: Vec<Vec<u8>>) {
        let mut q = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let room = self.capacity.saturating_sub(q.len());
        let skip = records.len().saturating_sub(room);
        self.metrics
            .dropped
            .fetch_add(skip as u64, Ordering::Relaxed);
        for r in records.into_iter().skip(skip).rev() {
            q.push_front(r);
        }
        self.metrics
            .buffered
            .store(q.len() as u64, Ordering::Relaxed);
    }

    pub fn len(&self) -> usize {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl CountSink for Outbox {
    fn sent(
        &self,
        send: &SendFacts<'_>,
        number: Option<&Classification>,
        delivery: Delivery,
        now: Timestamp,
    ) {
        let event = SendEvent {
            number: number.map(|c| c.number.digits()),
            account: send.account,
            client_ip: send.client_ip,
            device: send.device,
            session: send.session,
            delivery,
            at: now,
        };
        let mut record = Vec::with_capacity(48);
        wire::encode_send(&mut record, &event);
        self.push(record);
    }

    fn converted(&self, number: &Classification, now: Timestamp) {
        let mut record = Vec::with_capacity(24);
        wire::encode_conversion(&mut record, number.number.digits(), now);
        self.push(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(cap: usize) -> (Outbox, Arc<SharedMetrics>) {
        let m = Arc::new(SharedMetrics::default());
        (Outbox::new(cap, m.clone()), m)
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_and_counts_them() {
        let (o, m) = outbox(3);
        for i in 1..=5u8 {
            o.push(vec![i]);
        }
        assert_eq!(o.take(10), vec![vec![3], vec![4], vec![5]]);
        assert_eq!(m.dropped.load(Ordering::Relaxed), 2);
        assert!(o.is_empty());
    }

    #[test]
    fn records_given_back_go_first_within_the_capacity() {
        let (o, m) = outbox(3);
        o.push(vec![1]);
        o.push(vec![2]);
        let taken = o.take(2);
        o.push(vec![3]);
        o.push(vec![4]);
        o.give_back(taken);
        // Room for one of the two given back: the newer one stays.
        assert_eq!(o.take(10), vec![vec![2], vec![3], vec![4]]);
        assert_eq!(m.dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn take_is_bounded_and_keeps_order() {
        let (o, _) = outbox(10);
        for i in 0..5u8 {
            o.push(vec![i]);
        }
        assert_eq!(o.take(2), vec![vec![0], vec![1]]);
        assert_eq!(o.len(), 3);
    }
}
