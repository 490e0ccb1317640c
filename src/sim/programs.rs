//! The programs an emulated node can run (`core.system`). Nothing is executed for real (the one exception, a
//! storage engine, is `engines.rs`'s, and runs only `redis-server` on loopback): an emulated node must
//! never run what an API caller sends it on the machine that hosts the emulator. Each program is a script of
//! output lines and pauses, close enough to the real tool for the UI, the streams and the tests.

use std::time::Duration;

/// One step of an emulated program.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Stdout(String),
    Stderr(String),
    Pause(Duration),
}

/// A program ready to run: its steps, then its exit code.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub cmdline: String,
    pub steps: Vec<Step>,
    pub exit_code: u32,
}

/// The longest an emulated program may run, so a typo cannot hold a job for days.
pub(super) const LONGEST: Duration = Duration::from_secs(3600);
/// The most lines one emulated program may print.
const MOST_LINES: u64 = 100_000;

/// Parses `name args…` into a program, or the error a shell would print.
pub fn parse(name: &str, args: &[String]) -> Result<Program, String> {
    let cmdline = std::iter::once(name)
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let program = |steps: Vec<Step>, exit_code: u32| Program {
        cmdline: cmdline.clone(),
        steps,
        exit_code,
    };
    let base = name.rsplit('/').next().unwrap_or(name);
    match base {
        "true" => Ok(program(vec![], 0)),
        "false" => Ok(program(vec![], 1)),
        "echo" => Ok(program(vec![Step::Stdout(args.join(" "))], 0)),
        "hostname" => Ok(program(vec![Step::Stdout("zero-os".into())], 0)),
        "sleep" => match args.first().and_then(|s| seconds(s)) {
            Some(pause) => Ok(program(vec![Step::Pause(pause)], 0)),
            None => Ok(program(vec![Step::Stderr("sleep: invalid time interval".into())], 1)),
        },
        "seq" => match args
            .first()
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|n| *n <= MOST_LINES)
        {
            Some(last) => Ok(program((1..=last).map(|i| Step::Stdout(i.to_string())).collect(), 0)),
            None => Ok(program(vec![Step::Stderr("seq: invalid argument".into())], 1)),
        },
        // `ping [-c COUNT] [-i INTERVAL] HOST`: one line per interval; the replies are emulated, no packet is sent.
        "ping" => Ok(ping(args).map_or_else(
            |message| program(vec![Step::Stderr(format!("ping: {message}"))], 2),
            |steps| program(steps, 0),
        )),
        _ => Err(format!("exec: \"{name}\": executable file not found in $PATH")),
    }
}

fn seconds(text: &str) -> Option<Duration> {
    let value: f64 = text.parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| Duration::from_secs_f64(value).min(LONGEST))
}

fn ping(args: &[String]) -> Result<Vec<Step>, String> {
    let (mut count, mut interval, mut host) = (4u64, Duration::from_secs(1), None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-c" => {
                count = args
                    .next()
                    .and_then(|c| c.parse().ok())
                    .ok_or("bad number of packets")?
            }
            "-i" => interval = args.next().and_then(|i| seconds(i)).ok_or("bad timing interval")?,
            flag if flag.starts_with('-') => return Err(format!("invalid option -- '{flag}'")),
            target => host = Some(target.to_owned()),
        }
    }
    let host = host.ok_or("usage error: Destination address required")?;
    let count = count.min(MOST_LINES);
    let mut steps = vec![Step::Stdout(format!("PING {host} 56(84) bytes of data."))];
    for seq in 1..=count {
        steps.push(Step::Stdout(format!(
            "64 bytes from {host}: icmp_seq={seq} ttl=64 time=0.{:03} ms",
            (seq * 37) % 1000
        )));
        if seq < count {
            steps.push(Step::Pause(interval));
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn programs_print_what_the_real_tools_print() {
        let echo = parse("/bin/echo", &args(&["hello", "world"])).unwrap();
        assert_eq!(echo.steps, vec![Step::Stdout("hello world".into())]);
        assert_eq!(echo.cmdline, "/bin/echo hello world");
        let seq = parse("seq", &args(&["3"])).unwrap();
        assert_eq!(seq.steps.len(), 3);
        assert_eq!(parse("false", &[]).unwrap().exit_code, 1);
        let ping = parse("ping", &args(&["-c", "2", "-i", "0.1", "127.0.0.1"])).unwrap();
        assert_eq!(ping.steps.len(), 4, "{:?}", ping.steps);
        assert_eq!(ping.steps[2], Step::Pause(Duration::from_millis(100)));
    }

    #[test]
    fn bad_arguments_fail_like_a_shell_and_unknown_programs_are_not_found() {
        assert_eq!(parse("sleep", &args(&["soon"])).unwrap().exit_code, 1);
        assert_eq!(parse("ping", &args(&["-c", "2"])).unwrap().exit_code, 2);
        assert_eq!(
            parse("sleep", &args(&["1e12"])).unwrap().steps,
            vec![Step::Pause(LONGEST)]
        );
        assert!(parse("rm", &args(&["-rf", "/"])).unwrap_err().contains("not found"));
    }
}
