//! Taking the stored events while the expected ones are still being drawn.
//!
//! A generated expectation is drawn at about 1.5 million events a second on one core, and a
//! stream is read at about the same pace on the others: one after the other, a check takes the
//! sum of both; side by side, the longer of them. The stored events keep their order (the
//! order check and the first witnesses depend on it): one whose id has not been drawn yet waits
//! on the spot while the expectation is drawn up to it, or to its end (then it is unexpected).
//! Streams are mostly read in about the order they were put, so the waits are short; an
//! unexpected event draws the whole expectation at once, as taking it first would have.

use crate::history::{Checker, Expected, Stored};
use crate::place::Place;

/// A [`Checker`] fed stored events while its expected events are still coming, from an
/// iterator whose first error stops the drawing and is handed back by [`Drawing::finish`].
pub struct Drawing<I, E> {
    checker: Checker,
    rest: Option<I>,
    given: u64,
    error: Option<E>,
}

impl<I, E> std::fmt::Debug for Drawing<I, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drawing").field("given", &self.given).field("drawing", &self.rest.is_some()).finish()
    }
}

impl<I: Iterator<Item = Result<Expected, E>>, E> Drawing<I, E> {
    /// `checker` (with its explained places and order promise set) and the expected events it
    /// has still to take.
    pub fn new(checker: Checker, expected: I) -> Drawing<I, E> {
        Drawing { checker, rest: Some(expected), given: 0, error: None }
    }

    /// One stored event, once the expected events up to its id (or all of them) are taken.
    pub fn stored(&mut self, s: Stored) {
        let mut at = self.checker.position(&s.id);
        if at.is_none() && self.rest.is_some() {
            at = self.draw(Some(&s.id));
        }
        self.checker.stored_at(at, s);
    }

    /// Stored events, in order: [`Drawing::stored`] for each, their entries looked up together
    /// first (independent lookups overlap their cache misses: a million ids' table is bigger
    /// than the cache, and a lookup is mostly waiting for memory).
    pub fn stored_all(&mut self, events: Vec<Stored>) {
        let found: Vec<Option<usize>> = events.iter().map(|s| self.checker.position(&s.id)).collect();
        let given = self.given;
        for (s, mut at) in events.into_iter().zip(found) {
            if at.is_none() && self.given != given {
                // Drawn since, for an event before it on the page.
                at = self.checker.position(&s.id);
            }
            if at.is_none() && self.rest.is_some() {
                at = self.draw(Some(&s.id));
            }
            self.checker.stored_at(at, s);
        }
    }

    /// One stored record that could not be read (its place needs no expected event).
    pub fn unreadable(&mut self, place: Place, reason: String) {
        self.checker.unreadable(place, reason);
    }

    /// The checker with every expected event taken, and how many were given (an id given twice
    /// counted twice); the first error drawing them, if any.
    pub fn finish(mut self) -> Result<(Checker, u64), E> {
        self.draw(None);
        match self.error {
            Some(e) => Err(e),
            None => Ok((self.checker, self.given)),
        }
    }

    /// Takes expected events until one has the id `until` (its entry's position), or to the end.
    fn draw(&mut self, until: Option<&str>) -> Option<usize> {
        let rest = self.rest.as_mut()?;
        for e in rest.by_ref() {
            match e {
                Ok(e) => {
                    let hit = until == Some(e.id.as_str());
                    let at = self.checker.expect_at(e);
                    self.given += 1;
                    if hit {
                        return Some(at);
                    }
                }
                Err(e) => {
                    self.error = Some(e);
                    break;
                }
            }
        }
        self.rest = None;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Anomaly, Verdict};

    fn expected(id: &str) -> Expected {
        Expected { id: id.into(), time_ms: 1, key: vec!["usa".into()] }
    }

    fn stored(id: &str, pk: &str, seq: u32) -> Stored {
        let place = Place { shard: "shardId-000000000000".into(), sequence: seq.to_string(), index: 0, arrival_ms: 0 };
        Stored { id: id.into(), time_ms: 1, key: vec!["usa".into()], place, partition_key: Some(pk.into()) }
    }

    /// The verdict when every expected event is taken first, and when they are drawn as the
    /// stored events come.
    fn both(ids: &[&str], history: &[(&str, &str)]) -> (Verdict, Verdict, u64) {
        let first = {
            let mut c = Checker::new(10);
            c.ordered();
            ids.iter().for_each(|id| c.expect(expected(id)));
            for (n, (id, pk)) in history.iter().enumerate() {
                c.stored(stored(id, pk, n as u32));
            }
            c.verdict()
        };
        let mut c = Checker::new(10);
        c.ordered();
        let mut drawing = Drawing::new(c, ids.iter().map(|id| Ok::<_, String>(expected(id))));
        for (n, (id, pk)) in history.iter().enumerate() {
            drawing.stored(stored(id, pk, n as u32));
        }
        let (c, given) = drawing.finish().unwrap();
        // A page at a time: its ids looked up together, some drawn on the way.
        let mut paged = Checker::new(10);
        paged.ordered();
        let mut drawing = Drawing::new(paged, ids.iter().map(|id| Ok::<_, String>(expected(id))));
        let all: Vec<Stored> = history.iter().enumerate().map(|(n, (id, pk))| stored(id, pk, n as u32)).collect();
        for page in all.chunks(3) {
            drawing.stored_all(page.to_vec());
        }
        let (paged, paged_given) = drawing.finish().unwrap();
        let drawn = c.verdict();
        assert_eq!((paged.verdict(), paged_given), (drawn.clone(), given), "drawn a page at a time");
        (first, drawn, given)
    }

    #[test]
    fn drawing_as_stored_events_come_gives_the_verdict_of_taking_them_first() {
        let ids = ["a1", "b1", "a2", "a3", "b2", "c1", "a1"];
        // Out of order, a duplicate, an unexpected event early on (it draws the whole
        // expectation), a lost one (c1).
        let history = [("b1", "b"), ("x", "x"), ("a1", "a"), ("a3", "a"), ("a2", "a"), ("b2", "b"), ("b2", "b")];
        let (first, drawn, given) = both(&ids, &history);
        assert_eq!(first, drawn);
        assert_eq!(given, 7, "a1 given twice");
        let count = |a| drawn.classes[&a].count;
        assert_eq!([count(Anomaly::Reordered), count(Anomaly::Unexpected), count(Anomaly::Lost)], [1, 1, 1]);
        assert_eq!(count(Anomaly::Duplicated), 1);
        // In the order they were put: each waits only for its own id.
        let (first, drawn, _) = both(&ids[..6], &[("a1", "a"), ("b1", "b"), ("a2", "a"), ("a3", "a"), ("b2", "b")]);
        assert_eq!(first, drawn);
        assert_eq!(drawn.ok, 5);
    }

    #[test]
    fn the_first_error_drawing_stops_it_and_is_handed_back() {
        let events = vec![Ok(expected("a")), Err("line 2: not a time".to_owned()), Ok(expected("b"))];
        let mut drawing = Drawing::new(Checker::new(10), events.into_iter());
        drawing.stored(stored("b", "b", 1));
        assert_eq!(drawing.finish().err().as_deref(), Some("line 2: not a time"));
    }
}
