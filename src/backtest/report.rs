//! `--report`: one self-contained HTML page (inline CSS, SVG and a few lines
//! of JS; no external assets, so it can be mailed or attached to a ticket)
//! that shows a fraud analyst at a glance when traffic was stopped, where
//! to, why, and what it was worth.

use std::fmt::Write as _;

use super::summary::{pct, Row, Summary};

const ALLOW: &str = "#9fb3c8";
const HOLD: &str = "#f0a830";
const BLOCK: &str = "#d9480f";

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn money(cur: &str, x: f64) -> String {
    let sym = if cur == "USD" { "$" } else { "" };
    let whole = x.trunc() as u64;
    format!(
        "{sym}{}.{:02}",
        thousands(whole),
        ((x - x.trunc()) * 100.0).round() as u64 % 100
    )
}

/// Bucket sizes (minutes) the timeline may use.
const BUCKETS: [i64; 12] = [1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 10080];

fn timeline(s: &Summary) -> (i64, Vec<(i64, [u64; 3])>) {
    let (Some(first), Some(last)) = (s.timeline.keys().next(), s.timeline.keys().last()) else {
        return (60, Vec::new());
    };
    let span = last - first + 1;
    let size = BUCKETS
        .iter()
        .copied()
        .find(|b| span / b <= 240)
        .unwrap_or(10080);
    let start = first.div_euclid(size);
    let n = (last.div_euclid(size) - start + 1) as usize;
    let mut v: Vec<(i64, [u64; 3])> = (0..n)
        .map(|i| ((start + i as i64) * size, [0; 3]))
        .collect();
    for (m, c) in &s.timeline {
        let i = (m.div_euclid(size) - start) as usize;
        if let Some(slot) = v.get_mut(i) {
            for k in 0..3 {
                slot.1[k] += c[k];
            }
        }
    }
    (size, v)
}

fn minute_label(m: i64) -> String {
    crate::clock::Timestamp(m * 60_000)
        .to_rfc3339()
        .get(..16)
        .unwrap_or("")
        .replace('T', " ")
}

fn timeline_svg(s: &Summary, out: &mut String) {
    let (size, v) = timeline(s);
    if v.is_empty() {
        out.push_str("<p>No sends.</p>");
        return;
    }
    let (w, h, pad_l, pad_b, pad_t) = (960.0, 230.0, 56.0, 28.0, 12.0);
    let bw = (w - pad_l) / v.len() as f64;
    for (title, stopped_only) in [("All sends", false), ("Stopped sends only", true)] {
        let max = v
            .iter()
            .map(|(_, c)| {
                if stopped_only {
                    c[1] + c[2]
                } else {
                    c[0] + c[1] + c[2]
                }
            })
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let _ = write!(
            out,
            "<h3>{title} per {}</h3><svg viewBox='0 0 {w} {h}' class='chart'>",
            if size >= 60 {
                format!("{} h", size / 60)
            } else {
                format!("{size} min")
            }
        );
        let plot = h - pad_b - pad_t;
        for k in 0..=4 {
            let y = pad_t + plot * (1.0 - k as f64 / 4.0);
            let _ = write!(
                out,
                "<line x1='{pad_l}' x2='{w}' y1='{y:.1}' y2='{y:.1}' class='grid'/><text x='{}' y='{:.1}' class='axis' text-anchor='end'>{}</text>",
                pad_l - 4.0,
                y + 4.0,
                thousands((max * k as f64 / 4.0).round() as u64)
            );
        }
        for (i, (m, c)) in v.iter().enumerate() {
            let x = pad_l + i as f64 * bw;
            let mut y = h - pad_b;
            let layers: &[(usize, &str)] = if stopped_only {
                &[(2, BLOCK), (1, HOLD)]
            } else {
                &[(2, BLOCK), (1, HOLD), (0, ALLOW)]
            };
            let total = c[0] + c[1] + c[2];
            let tip = format!(
                "{} — {} sends: {} allowed, {} held, {} blocked ({:.2}% stopped)",
                minute_label(*m),
                thousands(total),
                thousands(c[0]),
                thousands(c[1]),
                thousands(c[2]),
                pct((c[1] + c[2]) as f64, total as f64)
            );
            let _ = write!(out, "<g><title>{}</title>", esc(&tip));
            for (k, color) in layers {
                let bh = plot * c[*k] as f64 / max;
                if bh > 0.0 {
                    y -= bh;
                    let _ = write!(
                        out,
                        "<rect x='{x:.2}' y='{y:.2}' width='{:.2}' height='{bh:.2}' fill='{color}'/>",
                        (bw - 0.5).max(0.5)
                    );
                }
            }
            // An invisible full-height target so thin bars get tooltips.
            let _ = write!(
                out,
                "<rect x='{x:.2}' y='{pad_t}' width='{bw:.2}' height='{plot}' fill='transparent'/></g>"
            );
        }
        let ticks = 5usize.min(v.len());
        for t in 0..ticks {
            let i = t * (v.len() - 1) / (ticks.max(2) - 1).max(1);
            if let Some((m, _)) = v.get(i) {
                let x = pad_l + i as f64 * bw;
                let anchor = if t + 1 == ticks { "end" } else { "start" };
                let x = if t + 1 == ticks { w } else { x };
                let _ = write!(
                    out,
                    "<text x='{x:.1}' y='{}' class='axis' text-anchor='{anchor}'>{}</text>",
                    h - 8.0,
                    esc(&minute_label(*m))
                );
            }
        }
        out.push_str("</svg>");
    }
}

fn hbars(out: &mut String, rows: &[(String, u64, u64, String)]) {
    // (label, held, blocked, annotation)
    if rows.is_empty() {
        out.push_str("<p class='muted'>Nothing was stopped.</p>");
        return;
    }
    let max = rows.iter().map(|r| r.1 + r.2).max().unwrap_or(1).max(1) as f64;
    let (w, row_h, label_w, bar_w) = (960.0, 22.0, 190.0, 420.0);
    let h = row_h * rows.len() as f64 + 6.0;
    let _ = write!(out, "<svg viewBox='0 0 {w} {h}' class='chart'>");
    for (i, (label, held, blocked, note)) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 3.0;
        let bl = bar_w * *blocked as f64 / max;
        let hl = bar_w * *held as f64 / max;
        let _ = write!(
            out,
            "<g><title>{}: {} blocked, {} held. {}</title><text x='{}' y='{:.1}' class='lbl' text-anchor='end'>{}</text>\
             <rect x='{label_w}' y='{y:.1}' width='{bl:.1}' height='{}' fill='{BLOCK}'/>\
             <rect x='{:.1}' y='{y:.1}' width='{hl:.1}' height='{}' fill='{HOLD}'/>\
             <text x='{:.1}' y='{:.1}' class='note'>{}</text></g>",
            esc(label),
            thousands(*blocked),
            thousands(*held),
            esc(note),
            label_w - 8.0,
            y + 14.0,
            esc(label),
            row_h - 6.0,
            label_w + bl,
            row_h - 6.0,
            label_w + bl + hl + 8.0,
            y + 14.0,
            esc(note)
        );
    }
    out.push_str("</svg>");
}

fn scores_svg(s: &Summary, out: &mut String) {
    let (w, h, pad_b) = (960.0, 160.0, 22.0);
    let max = s
        .scores
        .iter()
        .map(|c| c[0] + c[1] + c[2])
        .max()
        .unwrap_or(1)
        .max(1);
    let lmax = (1.0 + max as f64).log10();
    let bw = w / 101.0;
    let _ = write!(out, "<svg viewBox='0 0 {w} {h}' class='chart'>");
    for (score, c) in s.scores.iter().enumerate() {
        let total = c[0] + c[1] + c[2];
        if total == 0 {
            continue;
        }
        let bh = (h - pad_b) * (1.0 + total as f64).log10() / lmax;
        let color = if c[2] >= c[1] && c[2] >= c[0] {
            BLOCK
        } else if c[1] >= c[0] {
            HOLD
        } else {
            ALLOW
        };
        let _ = write!(
            out,
            "<rect x='{:.1}' y='{:.1}' width='{:.1}' height='{bh:.1}' fill='{color}'><title>score {score}: {} sends ({} allowed, {} held, {} blocked)</title></rect>",
            score as f64 * bw,
            h - pad_b - bh,
            bw - 1.0,
            thousands(total),
            thousands(c[0]),
            thousands(c[1]),
            thousands(c[2])
        );
    }
    for t in [0, 20, 40, 60, 80, 100] {
        let anchor = if t == 100 { "end" } else { "start" };
        let _ = write!(
            out,
            "<text x='{:.1}' y='{}' class='axis' text-anchor='{anchor}'>{t}</text>",
            (t as f64 * bw).min(w),
            h - 6.0
        );
    }
    out.push_str("</svg>");
}

fn tile(out: &mut String, label: &str, value: &str, sub: &str) {
    let _ = write!(
        out,
        "<div class='tile'><div class='tl'>{}</div><div class='tv'>{}</div><div class='ts'>{}</div></div>",
        esc(label),
        esc(value),
        esc(sub)
    );
}

fn row_cells(r: &Row, cur: &str) -> String {
    format!(
        "<td data-v='{}'>{}</td><td data-v='{}'>{}</td><td data-v='{}'>{}</td><td data-v='{:.4}'>{:.2}%</td><td data-v='{:.4}'>{}</td><td data-v='{:.4}'>{}</td>",
        r.sends,
        thousands(r.sends),
        r.blocked,
        thousands(r.blocked),
        r.held,
        thousands(r.held),
        r.stopped_pct(),
        r.stopped_pct(),
        r.cost,
        money(cur, r.cost),
        r.cost_stopped,
        money(cur, r.cost_stopped)
    )
}

/// Renders the report.
pub fn render(s: &Summary, title: &str) -> String {
    let cur = &s.currency;
    let t = &s.total;
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{}</title><style>{CSS}</style></head><body>",
        esc(title)
    );
    let _ = write!(o, "<h1>{}</h1><p class='muted'>", esc(title));
    if let (Some(a), Some(b)) = (s.first, s.last) {
        let _ = write!(o, "{} → {} · ", esc(&a.to_rfc3339()), esc(&b.to_rfc3339()));
    }
    let _ = write!(
        o,
        "{} format · {} events{}</p>",
        esc(&s.input.format),
        thousands(s.input.events),
        if s.input.malformed > 0 {
            format!(
                " · {} malformed records skipped",
                thousands(s.input.malformed)
            )
        } else {
            String::new()
        }
    );
    o.push_str("<div class='tiles'>");
    tile(
        &mut o,
        "Sends",
        &thousands(t.sends),
        &format!("{} conversions", thousands(s.input.conversions)),
    );
    tile(
        &mut o,
        "Stopped",
        &format!("{:.2}%", t.stopped_pct()),
        &format!(
            "{} blocked · {} held",
            thousands(t.blocked),
            thousands(t.held)
        ),
    );
    tile(
        &mut o,
        "Cost avoided",
        &money(cur, t.cost_stopped),
        &format!("of {} ({:.1}%)", money(cur, t.cost), t.cost_stopped_pct()),
    );
    if let Some((organic, attack)) = s.truth() {
        tile(
            &mut o,
            "Attack cost stopped",
            &format!("{:.1}%", attack.cost_stopped_pct()),
            &format!("{} attack sends", thousands(attack.sends)),
        );
        tile(
            &mut o,
            "Organic stopped",
            &format!("{:.3}%", organic.stopped_pct()),
            &format!(
                "{} of {}",
                thousands(organic.stopped()),
                thousands(organic.sends)
            ),
        );
    }
    o.push_str("</div>");
    let _ = write!(
        o,
        "<div class='legend'><span style='background:{ALLOW}'></span>allowed <span style='background:{HOLD}'></span>held <span style='background:{BLOCK}'></span>blocked</div>"
    );
    o.push_str("<h2>Over time</h2>");
    timeline_svg(s, &mut o);

    o.push_str("<h2>Where stopped traffic was going</h2>");
    let rows: Vec<(String, u64, u64, String)> = s
        .countries()
        .into_iter()
        .filter(|(_, r)| r.stopped() > 0)
        .take(20)
        .map(|(c, r)| {
            let note = format!(
                "{} of {} ({:.2}%) · {} avoided",
                thousands(r.stopped()),
                thousands(r.sends),
                r.stopped_pct(),
                money(cur, r.cost_stopped)
            );
            (c, r.held, r.blocked, note)
        })
        .collect();
    hbars(&mut o, &rows);

    o.push_str("<h2>Why it was stopped</h2>");
    let rows: Vec<(String, u64, u64, String)> = s
        .reasons()
        .into_iter()
        .take(20)
        .map(|(code, n)| {
            (
                code.to_string(),
                0,
                n,
                format!(
                    "{} stopped sends ({:.1}% of stopped)",
                    thousands(n),
                    pct(n as f64, t.stopped() as f64)
                ),
            )
        })
        .collect();
    hbars(&mut o, &rows);

    o.push_str("<h2>Score distribution</h2><p class='muted'>Sends per score, log scale; colour is the most common action at that score.</p>");
    scores_svg(s, &mut o);

    if !s.by_label.is_empty() {
        o.push_str("<h2>Ground truth</h2><table class='sortable'><thead><tr><th>label</th><th>sends</th><th>blocked</th><th>held</th><th>stopped</th><th>cost</th><th>cost stopped</th></tr></thead><tbody>");
        for (label, r) in &s.by_label {
            let _ = write!(o, "<tr><td>{}</td>{}</tr>", esc(label), row_cells(r, cur));
        }
        o.push_str("</tbody></table>");
    }

    o.push_str("<h2>All countries</h2><p class='muted'>Click a column to sort.</p><table class='sortable'><thead><tr><th>country</th><th>sends</th><th>blocked</th><th>held</th><th>stopped</th><th>cost</th><th>cost avoided</th></tr></thead><tbody>");
    for (c, r) in s.countries() {
        let _ = write!(o, "<tr><td>{}</td>{}</tr>", esc(&c), row_cells(&r, cur));
    }
    o.push_str("</tbody></table>");
    let _ = write!(o, "<script>{JS}</script></body></html>");
    o
}

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1000px;color:#1f2933;padding:0 16px}\
h1{font-size:22px;margin-bottom:2px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #e4e7eb;padding-bottom:4px}h3{font-size:13px;color:#52606d;margin:14px 0 2px}\
.muted{color:#7b8794}.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.tile{flex:1 1 150px;border:1px solid #e4e7eb;border-radius:8px;padding:10px 14px}\
.tl{font-size:12px;color:#7b8794;text-transform:uppercase;letter-spacing:.04em}.tv{font-size:24px;font-weight:600}.ts{font-size:12px;color:#52606d}\
.chart{width:100%;height:auto;display:block}.grid{stroke:#eef1f4}.axis{font-size:11px;fill:#7b8794}.lbl{font-size:12px;fill:#1f2933}.note{font-size:11px;fill:#52606d}\
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;border-radius:2px}\
table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:4px 8px;border-bottom:1px solid #eef1f4;text-align:right}th:first-child,td:first-child{text-align:left}\
th{cursor:pointer;user-select:none;background:#f5f7fa}tr:hover td{background:#fafbfc}";

const JS: &str = "document.querySelectorAll('table.sortable th').forEach(function(th,i){th.addEventListener('click',function(){\
var tb=th.closest('table').tBodies[0];var rows=Array.from(tb.rows);var asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';\
rows.sort(function(a,b){var x=a.cells[i],y=b.cells[i];var vx=x.dataset.v,vy=y.dataset.v;\
var r=(vx!==undefined&&vy!==undefined)?(parseFloat(vx)-parseFloat(vy)):x.textContent.localeCompare(y.textContent);return asc?r:-r;});\
rows.forEach(function(r){tb.appendChild(r);});});});";
