//! The values of `produce`'s and `consume`'s flags that are more than a string: parsed by clap
//! through `FromStr`, so that a mistyped value is refused before anything starts, with the flag
//! named.

use std::str::FromStr;

/// `--source`: where records come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `kinesis:STREAM`.
    Kinesis(String),
    /// `stdin`.
    Stdin,
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Source, String> {
        match (s, s.strip_prefix("kinesis:")) {
            (_, Some(stream)) if !stream.is_empty() => Ok(Source::Kinesis(stream.to_owned())),
            ("stdin", _) => Ok(Source::Stdin),
            _ => Err("use kinesis:STREAM or stdin".into()),
        }
    }
}

/// `--sink`: where counts go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sink {
    /// `s3://BUCKET/PREFIX`; the bucket may be empty here (refused with the form to use
    /// when the run starts, as before this was a type).
    S3 {
        bucket: String,
        prefix: String,
    },
    Console,
    Stdout,
}

impl Sink {
    /// The sink writes to the terminal's stdout (the live line must not mix with it).
    pub fn is_stdout(&self) -> bool {
        matches!(self, Sink::Console | Sink::Stdout)
    }
}

impl FromStr for Sink {
    type Err = String;

    fn from_str(s: &str) -> Result<Sink, String> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let prefix = prefix.trim_end_matches('/').to_owned();
            return Ok(Sink::S3 { bucket: bucket.to_owned(), prefix });
        }
        match s {
            "console" => Ok(Sink::Console),
            "stdout" => Ok(Sink::Stdout),
            _ => Err("use s3://BUCKET/PREFIX, console or stdout".into()),
        }
    }
}

/// `--on-stop`: what a stop does with the open windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnStop {
    Keep,
    Close,
}

impl FromStr for OnStop {
    type Err = String;

    fn from_str(s: &str) -> Result<OnStop, String> {
        match s {
            "keep" => Ok(OnStop::Keep),
            "close" => Ok(OnStop::Close),
            _ => Err("use keep or close".into()),
        }
    }
}

/// `on` or `off` (`--leases`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switch(pub bool);

impl FromStr for Switch {
    type Err = String;

    fn from_str(s: &str) -> Result<Switch, String> {
        match s {
            "on" => Ok(Switch(true)),
            "off" => Ok(Switch(false)),
            _ => Err("use on or off".into()),
        }
    }
}

/// `produce --source`: where events come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventSource {
    /// `file:PATH`: a recorded TSV file, replayed.
    File(std::path::PathBuf),
    /// `random`: the seeded generator.
    Random,
}

impl FromStr for EventSource {
    type Err = String;

    fn from_str(s: &str) -> Result<EventSource, String> {
        match (s, s.strip_prefix("file:")) {
            (_, Some(path)) if !path.is_empty() => Ok(EventSource::File(path.into())),
            ("random", _) => Ok(EventSource::Random),
            _ => Err("use file:PATH or random".into()),
        }
    }
}

/// `produce --sink`: where events go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventSink {
    Console,
    Stdout,
    Kinesis(String),
}

impl FromStr for EventSink {
    type Err = String;

    fn from_str(s: &str) -> Result<EventSink, String> {
        match (s, s.strip_prefix("kinesis:")) {
            (_, Some(stream)) if !stream.is_empty() => Ok(EventSink::Kinesis(stream.to_owned())),
            ("console", _) => Ok(EventSink::Console),
            ("stdout", _) => Ok(EventSink::Stdout),
            _ => Err("use console, stdout or kinesis:STREAM".into()),
        }
    }
}

/// `--aggregate`: `none`, or how events are packed into records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aggregate(pub Option<minutely_producer::aggregation::Packing>);

impl FromStr for Aggregate {
    type Err = String;

    fn from_str(s: &str) -> Result<Aggregate, String> {
        match s {
            "none" => Ok(Aggregate(None)),
            other => other.parse().map(|p| Aggregate(Some(p))),
        }
    }
}

/// `--missing`: `reject` or `empty`.
pub fn missing(s: &str) -> Result<minutely_event::Missing, String> {
    match s {
        "reject" => Ok(minutely_event::Missing::Reject),
        "empty" => Ok(minutely_event::Missing::Empty),
        _ => Err("use reject or empty".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_and_the_wrong_ones_say_the_forms() {
        assert_eq!("kinesis:events".parse(), Ok(Source::Kinesis("events".into())));
        assert_eq!("stdin".parse(), Ok(Source::Stdin));
        assert_eq!("kinesis:".parse::<Source>(), Err("use kinesis:STREAM or stdin".into()));
        assert_eq!("s3://b/p/q/".parse(), Ok(Sink::S3 { bucket: "b".into(), prefix: "p/q".into() }));
        assert_eq!("s3://b".parse(), Ok(Sink::S3 { bucket: "b".into(), prefix: String::new() }));
        assert_eq!("s3://".parse(), Ok(Sink::S3 { bucket: String::new(), prefix: String::new() }));
        assert!("file.txt".parse::<Sink>().is_err());
        assert_eq!("keep".parse(), Ok(OnStop::Keep));
        assert!("later".parse::<OnStop>().is_err());
        assert_eq!("off".parse(), Ok(Switch(false)));
        assert!("yes".parse::<Switch>().is_err());
        assert_eq!(missing("empty"), Ok(minutely_event::Missing::Empty));
        assert_eq!("file:a.tsv".parse(), Ok(EventSource::File("a.tsv".into())));
        assert!("file:".parse::<EventSource>().is_err());
        assert_eq!("kinesis:events".parse(), Ok(EventSink::Kinesis("events".into())));
        assert!("s3://b".parse::<EventSink>().is_err());
        assert_eq!("none".parse(), Ok(Aggregate(None)));
        assert_eq!("kpl".parse(), Ok(Aggregate(Some(minutely_producer::aggregation::Packing::Kpl))));
        assert!("zip".parse::<Aggregate>().is_err());
        assert!(missing("drop").is_err());
    }
}
