//! Drawing the expected events on another core while the checker takes them.

use std::sync::mpsc;

/// Items handed over between the threads at a time.
const BATCH: usize = 4096;
/// Batches drawn ahead of the taker at most (memory stays bounded).
const BATCHES_AHEAD: usize = 4;

/// `items`, drawn on a thread of their own, in order: a generator (the random source draws an
/// event in about 0.7 µs) runs beside the checker instead of before it. Stops drawing when the
/// returned iterator is dropped.
pub fn ahead<T: Send + 'static>(items: impl Iterator<Item = T> + Send + 'static) -> impl Iterator<Item = T> {
    let (tx, rx) = mpsc::sync_channel::<Vec<T>>(BATCHES_AHEAD);
    std::thread::Builder::new()
        .name("minutely-ahead".into())
        .spawn(move || {
            let mut items = items.peekable();
            while items.peek().is_some() {
                let batch: Vec<T> = items.by_ref().take(BATCH).collect();
                if tx.send(batch).is_err() {
                    return; // the taker is gone
                }
            }
        })
        .expect("a thread for the expected events");
    rx.into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_item_in_order_and_stops_when_dropped() {
        let got: Vec<u32> = ahead(0..10_000).collect();
        assert_eq!(got, (0..10_000).collect::<Vec<_>>());
        let (tx, rx) = mpsc::channel();
        let mut taken = ahead((0..u32::MAX).inspect(move |i| {
            let _ = tx.send(*i);
        }));
        assert_eq!(taken.next(), Some(0));
        drop(taken);
        // The drawing thread stops within a few batches of where the taker left.
        let drawn = rx.iter().count();
        assert!(drawn <= BATCH * (BATCHES_AHEAD + 3), "{drawn}");
    }
}
