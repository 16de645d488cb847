//! The human listing and outcome of `sweep`.

use std::fmt::Write as _;

use kitty_core::spec_kitty::{DashboardClass, OrphanReason};
use kitty_core::{Doubt, mask_tokens};

use super::super::Verbosity;
use super::super::visible::{visible, visible_path};
use crate::findings::run::Action;
use crate::findings::sweep::{Entry, ServerEntry, SweepFindings, SweepPlan};

/// `orphan (project gone)`, `starting`, `elsewhere (net ns)`.
pub(crate) fn class_label(class: &DashboardClass) -> String {
    match class {
        DashboardClass::Orphan {
            reason: OrphanReason::ProjectGone,
        } => "orphan (project gone)".into(),
        DashboardClass::Orphan {
            reason: OrphanReason::OwnerDead { owner_pid },
        } => format!("orphan (owner {owner_pid} dead)"),
        DashboardClass::Orphan {
            reason: OrphanReason::ServedDirGone,
        } => "orphan (dir gone)".into(),
        DashboardClass::Unrecorded => "unrecorded".into(),
        DashboardClass::Starting { .. } => "starting".into(),
        DashboardClass::Live => "live".into(),
        DashboardClass::Unknown { .. } => "unknown".into(),
        DashboardClass::Elsewhere { namespaces } => {
            let names: Vec<String> = namespaces.iter().map(ToString::to_string).collect();
            format!("elsewhere ({} ns)", names.join("+"))
        }
    }
}

fn port_label(port: Option<u16>, listening: bool) -> String {
    match (port, listening) {
        (Some(p), true) => p.to_string(),
        (Some(p), false) => format!("({p})"),
        (None, _) => "-".into(),
    }
}

fn project_label(e: &Entry) -> String {
    let dir = mask_tokens(&visible_path(&e.project_dir()));
    let gone = matches!(
        e.judgement.class,
        DashboardClass::Orphan {
            reason: OrphanReason::ProjectGone
        }
    );
    if gone { format!("{dir} (gone)") } else { dir }
}

/// `stop`, or `keep (why)`.
pub(crate) fn plan_label(e: &Entry) -> &'static str {
    if !e.selected && !e.in_scope {
        return "keep (outside the watched ports)";
    }
    verdict_label(e.selected, &e.judgement.verdict)
}

/// A server's `stop`, or `keep (why)`: a live one is never swept.
fn server_plan_label(e: &ServerEntry) -> &'static str {
    if !e.selected && !e.in_scope {
        return "keep (outside the watched ports)";
    }
    match &e.judgement.verdict {
        Err(Doubt::Live) => "keep (live)",
        verdict => verdict_label(e.selected, verdict),
    }
}

fn verdict_label(selected: bool, verdict: &Result<kitty_core::Permit, Doubt>) -> &'static str {
    if selected {
        return "stop";
    }
    match verdict {
        Ok(_) => "keep",
        Err(Doubt::NotOurs { .. }) => "keep (another user's)",
        Err(Doubt::Ancestor) => "keep (runs this sweep)",
        Err(Doubt::Live) => "keep (live; --all stops it)",
        Err(Doubt::Starting) => "keep (may still be starting)",
        Err(Doubt::Unknown { .. }) => "keep (state unknown)",
        Err(Doubt::Elsewhere { .. }) | Err(Doubt::PlaceUnknown) => "keep (another namespace)",
        Err(_) => "keep",
    }
}

/// The listing `sweep` prints before it asks (on stdout).
pub fn sweep_listing(report: &SweepPlan, verbosity: Verbosity) -> String {
    let verbose = verbosity == Verbosity::Verbose;
    let mut out = String::new();
    let in_scope = report.entries.iter().filter(|e| e.in_scope).count();
    let outside = report.entries.len() - in_scope;
    let _ = writeln!(
        out,
        "sweep: ports {}: {in_scope} dashboard(s), {} other listener(s){}",
        report.ports,
        report.others.len(),
        if outside > 0 {
            format!("; {outside} dashboard(s) outside the watched ports, not touched")
        } else {
            String::new()
        }
    );
    for e in report.entries.iter().filter(|e| e.in_scope || verbose) {
        let _ = writeln!(
            out,
            "  {:>6}  pid {:<8} {:<26} {:<34} {}",
            port_label(e.port(), !e.listening.is_empty()),
            e.identity().pid(),
            class_label(&e.judgement.class),
            plan_label(e),
            project_label(e),
        );
        if verbose {
            let _ = writeln!(out, "          {}", visible(&e.identity().command_line()));
            if let Err(doubt) = &e.judgement.verdict {
                let _ = writeln!(out, "          kept: {}", visible(&doubt.to_string()));
            }
        }
    }
    if !report.servers.is_empty() {
        let _ = writeln!(
            out,
            "sweep: {} server(s) a profile recognises, {} of them on the watched ports",
            report.servers.len(),
            report.servers.iter().filter(|e| e.in_scope).count()
        );
    }
    for e in report.servers.iter().filter(|e| e.in_scope || verbose) {
        let cwd = e
            .identity()
            .cwd()
            .map(|d| mask_tokens(&visible_path(d)))
            .unwrap_or_else(|| "(working directory not visible)".into());
        let health = match e.answers {
            Some(true) => ", answers",
            Some(false) => ", does not answer",
            None => "",
        };
        let _ = writeln!(
            out,
            "  {:>6}  pid {:<8} {:<26} {:<34} {} in {cwd}{health}",
            port_label(e.port(), !e.listening.is_empty()),
            e.identity().pid(),
            class_label(&e.judgement.class),
            server_plan_label(e),
            visible(&e.found.profile.name),
        );
        if verbose {
            let _ = writeln!(out, "          {}", visible(&e.identity().command_line()));
            if let Err(doubt) = &e.judgement.verdict {
                let _ = writeln!(out, "          kept: {}", visible(&doubt.to_string()));
            }
        }
    }
    for o in &report.others {
        let who = match &o.owner {
            Some(p) => format!("pid {:<8}", p.pid()),
            None => format!("uid {:<8}", o.listener.uid),
        };
        let command = o
            .owner
            .as_ref()
            .map(|p| visible(&p.command_line()).into_owned())
            .unwrap_or_else(|| "(owner not visible)".into());
        let _ = writeln!(
            out,
            "  {:>6}  {who} {:<26} {:<34} {command}",
            o.listener.port, o.kind, "never touched",
        );
    }
    mask_tokens(&out)
}

/// The question `sweep` asks before it acts (ours: counts, no process data).
pub fn sweep_question(plan: &SweepPlan) -> String {
    let (to_stop, live, servers) = (plan.to_stop(), plan.live_to_stop(), plan.servers_to_stop());
    if servers > 0 && live > 0 {
        format!("Stop {to_stop} dashboards ({live} of them live) and {servers} orphaned servers?")
    } else if servers > 0 {
        format!("Stop {to_stop} orphaned dashboards and {servers} orphaned servers?")
    } else if to_stop == 0 {
        format!(
            "Remove {} stale .kittify/.dashboard files?",
            plan.files_stale.len()
        )
    } else if live > 0 {
        format!("Stop {to_stop} dashboards ({live} of them live)?")
    } else {
        format!("Stop {to_stop} orphaned dashboards?")
    }
}

/// What `sweep` did: a line per dashboard skipped or failed (for stderr), and
/// the summary (for stdout, or stderr when nothing could be done).
pub fn sweep_result(report: &SweepFindings) -> (String, String) {
    let mut problems = String::new();
    let selected = report
        .plan
        .entries
        .iter()
        .filter(|e| e.selected)
        .map(|e| (e.identity(), e.port(), &e.action))
        .chain(
            report
                .plan
                .servers
                .iter()
                .filter(|e| e.selected)
                .map(|e| (e.identity(), e.port(), &e.action)),
        );
    for (identity, port, action) in selected {
        let port = port_label(port, true);
        match action {
            Action::LeftAlone { reason } => {
                let _ = writeln!(
                    problems,
                    "sweep: pid {} on {port}: skipped: {}",
                    identity.pid(),
                    visible(reason)
                );
            }
            Action::Failed { error } => {
                let _ = writeln!(
                    problems,
                    "sweep: error: pid {} on {port}: {}",
                    identity.pid(),
                    visible(error)
                );
            }
            _ => {}
        }
    }
    let files = |n: usize| if n == 1 { "file" } else { "files" };
    let (to_stop, stale) = (report.plan.to_stop(), report.plan.files_stale.len());
    let servers = report.plan.servers_to_stop();
    // The servers' part of the summary, only when there are any to stop.
    let and_servers = |what: &str| {
        if servers > 0 {
            format!(" and {what}{servers} server(s)")
        } else {
            String::new()
        }
    };
    let summary = if report.plan.dry_run {
        format!(
            "sweep: dry run: would stop {to_stop} dashboard(s){} and remove {stale} stale .kittify/.dashboard {}; nothing done\n",
            and_servers(""),
            files(stale)
        )
    } else if to_stop + servers == 0 && stale == 0 && report.files_removed.is_empty() {
        "sweep: nothing to stop\n".into()
    } else if report.no_terminal() {
        format!(
            "sweep: {to_stop} dashboard(s){} to stop and {stale} stale .kittify/.dashboard {}; nothing done: no terminal to ask. \
             Re-run with --yes to stop them (or --dry-run to only list).\n",
            and_servers(""),
            files(stale)
        )
    } else if !report.confirmed() {
        format!(
            "sweep: not confirmed: {to_stop} dashboard(s){} left running and {stale} stale .kittify/.dashboard {} left; \
             nothing done, exit status {}. Re-run and answer y, or with --yes, to stop them.\n",
            and_servers(""),
            files(stale),
            report.exit_code()
        )
    } else {
        let kills = report
            .plan
            .entries
            .iter()
            .filter(|e| matches!(&e.action, Action::Reaped { stopped, .. } if stopped.escalated))
            .count()
            + report
                .plan
                .servers
                .iter()
                .filter(
                    |e| matches!(&e.action, Action::Reaped { stopped, .. } if stopped.escalated),
                )
                .count();
        let failed = report.failed();
        let removed = report.files_removed.len();
        let interrupted = match report.cleanup_interrupted_by {
            Some(sig) => format!(
                "; {} came during the stops: finished them, exit status {}",
                kitty_core::sys::signal_name(sig.as_raw()),
                report.exit_code()
            ),
            None => String::new(),
        };
        format!(
            "sweep: stopped {} of {to_stop} dashboard(s){} ({kills} needed SIGKILL){}; removed {removed} .kittify/.dashboard {}; {:.0} ms{interrupted}\n",
            report.stopped(),
            and_servers(&format!("{} of ", report.servers_stopped())),
            if failed > 0 {
                format!(", {failed} FAILED")
            } else {
                String::new()
            },
            files(removed),
            report.elapsed.as_secs_f64() * 1000.0
        )
    };
    (mask_tokens(&problems), mask_tokens(&summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let gone = DashboardClass::Orphan {
            reason: OrphanReason::ProjectGone,
        };
        assert_eq!(class_label(&gone), "orphan (project gone)");
        let dead = DashboardClass::Orphan {
            reason: OrphanReason::OwnerDead { owner_pid: 7 },
        };
        assert_eq!(class_label(&dead), "orphan (owner 7 dead)");
        assert_eq!(port_label(Some(9300), true), "9300");
        assert_eq!(port_label(Some(9300), false), "(9300)");
    }
}
