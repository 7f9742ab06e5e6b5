//! LATENCY LATEST / HISTORY / RESET / GRAPH / DOCTOR / HISTOGRAM / HELP over
//! `exec::latency`.

use crate::exec::latency::{cdf_rows, Series};
use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdResult};

pub fn latency_latest(ctx: &mut Ctx) -> CmdResult {
    let events = &ctx.ex.latency.events;
    let out = &mut ctx.client.out;
    out.array(events.len());
    for (name, s) in events {
        let (t, ms) = s.samples.back().copied().unwrap_or((0, 0));
        out.array(4);
        out.bulk(name.as_bytes());
        out.int(t);
        out.int(ms as i64);
        out.int(s.max as i64);
    }
    Ok(())
}

pub fn latency_history(ctx: &mut Ctx) -> CmdResult {
    let out = &mut ctx.client.out;
    match ctx
        .ex
        .latency
        .events
        .get(&*String::from_utf8_lossy(ctx.argv[2]))
    {
        None => out.array(0),
        Some(s) => {
            out.array(s.samples.len());
            for &(t, ms) in &s.samples {
                out.array(2);
                out.int(t);
                out.int(ms as i64);
            }
        }
    }
    Ok(())
}

pub fn latency_reset(ctx: &mut Ctx) -> CmdResult {
    let events = &mut ctx.ex.latency.events;
    let n = if ctx.argv.len() == 2 {
        let n = events.len();
        events.clear();
        n
    } else {
        ctx.argv[2..]
            .iter()
            .filter(|e| events.remove(&*String::from_utf8_lossy(e)).is_some())
            .count()
    };
    ctx.out().int(n as i64);
    Ok(())
}

pub fn latency_graph(ctx: &mut Ctx) -> CmdResult {
    let name = String::from_utf8_lossy(ctx.argv[2]).into_owned();
    let Some(s) = ctx.ex.latency.events.get(name.as_str()) else {
        return Err(err::latency_no_samples(ctx.argv[2]));
    };
    let graph = graph(&name, s, ctx.now_ms / 1000);
    ctx.out().verbatim(b"txt", graph.as_bytes());
    Ok(())
}

const GRAPH_COLS: usize = 80;
const GRAPH_ROWS: usize = 4;

/// Redis's latencyCommandGenSparkeline: a filled sparkline of the samples, labelled with
/// how long ago each happened.
fn graph(event: &str, s: &Series, now_secs: i64) -> String {
    let values: Vec<u64> = s.samples.iter().map(|x| x.1).collect();
    let labels: Vec<String> = s
        .samples
        .iter()
        .map(|&(t, _)| {
            let e = now_secs - t;
            match e {
                e if e < 60 => format!("{e}s"),
                e if e < 3600 => format!("{}m", e / 60),
                e if e < 86400 => format!("{}h", e / 3600),
                e => format!("{}d", e / 86400),
            }
        })
        .collect();
    let (min, max) = (
        values.iter().copied().min().unwrap_or(0),
        values.iter().copied().max().unwrap_or(0),
    );
    let mut out = format!(
        "{event} - high {max} ms, low {min} ms (all time high {} ms)\n{}\n",
        s.max,
        "-".repeat(GRAPH_COLS)
    );
    let mut start = 0;
    while start < values.len() {
        let len = (values.len() - start).min(GRAPH_COLS);
        if start != 0 {
            out.push('\n');
        }
        render_range(
            &mut out,
            &values[start..start + len],
            &labels[start..start + len],
            min,
            max,
        );
        start += len;
    }
    out
}

/// Redis's sparklineRenderRange with SPARKLINE_FILL.
fn render_range(out: &mut String, values: &[u64], labels: &[String], min: u64, max: u64) {
    const FILL: &[u8] = b"_o#";
    // A flat series still draws (Redis divides by 1 then).
    let relmax = if max == min { 1.0 } else { (max - min) as f64 };
    let steps = (FILL.len() * GRAPH_ROWS) as i64;
    let mut row = 0usize;
    loop {
        let mut chars = vec![b' '; values.len()];
        let mut more = false;
        for (j, &v) in values.iter().enumerate() {
            let relval = (v - min) as f64;
            let step = (((relval * steps as f64) as i64) as f64 / relmax) as i64;
            let step = step.clamp(0, steps - 1);
            if row < GRAPH_ROWS {
                more = true;
                let idx = step - ((GRAPH_ROWS - row - 1) * FILL.len()) as i64;
                if (0..FILL.len() as i64).contains(&idx) {
                    chars[j] = FILL[idx as usize];
                } else if idx >= FILL.len() as i64 {
                    chars[j] = b'|';
                }
            } else {
                // One blank line between the graph and the labels.
                if row - GRAPH_ROWS < 1 {
                    more = true;
                    break;
                }
                let at = row - GRAPH_ROWS - 1;
                if let Some(&c) = labels[j].as_bytes().get(at) {
                    more = true;
                    chars[j] = c;
                }
            }
        }
        if !more {
            break;
        }
        row += 1;
        out.push_str(&String::from_utf8_lossy(&chars));
        out.push('\n');
    }
}

/// LATENCY DOCTOR: Redis's createLatencyReport for the events it can advise on.
pub fn latency_doctor(ctx: &mut Ctx) -> CmdResult {
    let ex = &ctx.ex;
    let threshold = ex.settings.latency_monitor_threshold;
    let events = &ex.latency.events;
    let text = if events.is_empty() && threshold == 0 {
        "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string()
    } else if events.is_empty() {
        "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".to_string()
    } else {
        let mut s = String::from("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        let mut commands = false;
        for (i, (name, series)) in events.iter().enumerate() {
            let n = series.samples.len() as u64;
            let sum: u64 = series.samples.iter().map(|x| x.1).sum();
            let avg = sum / n.max(1);
            let dev = series
                .samples
                .iter()
                .map(|x| x.1.abs_diff(avg))
                .sum::<u64>()
                / n.max(1);
            let first = series.samples.front().map_or(0, |x| x.0);
            let last = series.samples.back().map_or(0, |x| x.0);
            let period = (last - first).max(1) as f64 / n.max(1) as f64;
            s.push_str(&format!(
                "{}. {name}: {n} latency spikes (average {avg}ms, mean deviation {dev}ms, period {period:.2} sec). Worst all time event {}ms.\n",
                i + 1,
                series.max
            ));
            commands |= *name == "command" || *name == "fast-command";
        }
        let slower = ex.settings.slowlog_log_slower_than;
        let mut advices = Vec::new();
        if commands && slower < 0 {
            advices.push("- We need to have the slow log enabled to help us debug this problem. Please use 'CONFIG SET slowlog-log-slower-than <microseconds>' to enable it.".to_string());
        } else if commands && slower / 1000 > threshold {
            advices.push(format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.", threshold * 1000));
        }
        if commands {
            advices.push("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.".into());
            advices.push("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.".into());
        }
        if advices.is_empty() {
            s.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        } else {
            s.push_str("\nI have a few advices for you:\n\n");
            for a in advices {
                s.push_str(&a);
                s.push('\n');
            }
        }
        s
    };
    ctx.out().verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// LATENCY HISTOGRAM [command ...]: cumulative counts at the power-of-two microsecond
/// bounds where they change, per command that ran.
pub fn latency_histogram(ctx: &mut Ctx) -> CmdResult {
    let table = ctx.ex.table;
    // A container stands for itself and its subcommands (as "config|get").
    let with_subs = |c: &'static crate::cmd::table::Command, v: &mut Vec<(&'static str, usize)>| {
        v.push((c.meta.name, c.id));
        let mut subs: Vec<_> = c.subs.values().collect();
        subs.sort_by_key(|s| s.meta.name);
        for s in subs {
            v.push((s.meta.name, s.id));
        }
    };
    let mut picked: Vec<(&str, usize)> = Vec::new();
    if ctx.argv.len() == 2 {
        for c in table.commands() {
            with_subs(c, &mut picked);
        }
    } else {
        for a in &ctx.argv[2..] {
            if let Some(c) = table.by_fullname(a) {
                if !picked.iter().any(|p| p.1 == c.id) {
                    with_subs(c, &mut picked);
                }
            }
        }
    }
    let stats = &ctx.ex.stats.cmd;
    picked.retain(|&(_, id)| stats[id].calls > 0 && !stats[id].hist.is_empty());
    let out = &mut ctx.client.out;
    out.map(picked.len());
    for (name, id) in picked {
        let st = &stats[id];
        out.bulk(name.as_bytes());
        out.map(2);
        out.bulk(b"calls");
        out.int(st.hist.iter().sum::<u64>() as i64);
        out.bulk(b"histogram_usec");
        let rows = cdf_rows(&st.hist);
        out.map(rows.len());
        for (bound, count) in rows {
            out.int(bound as i64);
            out.int(count as i64);
        }
    }
    Ok(())
}

pub fn latency_help(ctx: &mut Ctx) -> CmdResult {
    super::introspect::help(
        ctx.out(),
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
    Ok(())
}
