//! The data checks (DO, DI, DR) against the built-in conforming mock: all
//! pass; declared capabilities (`input`, `revisions`, `output`), triggers
//! (`auto`, `manual`) and a department's own schema change exactly what the
//! binding says they change.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure

mod data_support;

use std::io::Write;

use data_support::{describe, rig, rig_with, run_data_checks, DATA_CHECKS};
use s301_harness::checks::catalog;
use s301_harness::config::declaration::Trigger;
use s301_harness::model::ids::{CheckId, ConditionId};
use s301_harness::model::verdict::{ConditionVerdict, Verdict};

async fn run_one(
    ctx: &s301_harness::checks::CheckCtx,
    id: CheckId,
) -> s301_harness::checks::Outcome {
    let def = catalog()
        .into_iter()
        .find(|d| d.id == id)
        .expect("check in catalog");
    (def.run)(ctx).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_data_check_passes_against_the_default_mock() {
    let r = rig(vec![], |_| {}, 7).await;
    let res = run_data_checks(&r.ctx).await;
    for id in DATA_CHECKS {
        assert_eq!(
            res[&id].verdict,
            Verdict::Pass,
            "{id} did not pass:\n{}",
            describe(&res)
        );
    }
    // DR-02 covered what the brief asks for, and recorded its seeded plan.
    let ev = &res[&CheckId::Dr02].evidence;
    assert_eq!(ev["seed"], 7);
    assert!(
        ev["counts"]["burst"].as_u64() >= Some(20),
        "{}",
        ev["counts"]
    );
    assert!(
        ev["counts"]["before_report"].as_u64() >= Some(3),
        "{}",
        ev["counts"]
    );
    assert!(
        ev["counts"]["during_push"].as_u64() >= Some(1),
        "{}",
        ev["counts"]
    );
    assert!(ev["plan"]
        .as_array()
        .is_some_and(|p| p.len() >= 16 + 20 + 3));
    // DO-01 kept the report and its schema verdict as evidence.
    let do01 = &res[&CheckId::Do01].evidence;
    assert_eq!(do01["push"]["status"], 201);
    assert_eq!(do01["report"]["schema"], "s3-01/report/v1");
    // DO-03 saw the injected 503 and the acknowledged retry.
    let do03 = &res[&CheckId::Do03].evidence;
    assert_eq!(do03["refused"]["status"], 503);
    assert_eq!(do03["delivered"]["status"], 201);
    // Every exchange is in the channel's evidence, with its sequence number.
    let log = r.dc.evidence();
    let exchanges = log["receiver"]["exchanges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(exchanges.len() >= 6, "{log}");
    assert!(exchanges.iter().all(|e| e["seq"].as_u64().is_some()));
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_only_terminal_gets_di_not_applicable_and_1_3_1_still_passes() {
    let r = rig(vec![], |d| d.input = false, 11).await;
    let res = run_data_checks(&r.ctx).await;
    for id in [CheckId::Di01, CheckId::Di02] {
        assert_eq!(
            res[&id].verdict,
            Verdict::NotApplicable,
            "{}",
            describe(&res)
        );
        assert!(res[&id].detail.contains("補足"), "{}", res[&id].detail);
        assert!(
            res[&id]
                .detail
                .contains(&ConditionId::C1_3_1.text().note_ja),
            "{}",
            res[&id].detail
        );
    }
    let c131: Vec<_> = res
        .iter()
        .filter(|(id, _)| s301_harness::checks::def(**id).condition == ConditionId::C1_3_1)
        .map(|(_, o)| (o.verdict, None))
        .collect();
    assert_eq!(c131.len(), 5);
    assert_eq!(
        ConditionVerdict::judge(&c131, &[]),
        ConditionVerdict::Pass,
        "{}",
        describe(&res)
    );
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_without_revisions_gets_do02_not_applicable() {
    let r = rig(vec![], |d| d.revisions = false, 12).await;
    let o = run_one(&r.ctx, CheckId::Do02).await;
    assert_eq!(o.verdict, Verdict::NotApplicable, "{}", o.detail);
    // DR-02 then spreads new reports instead of updates, and still passes.
    let o = run_one(&r.ctx, CheckId::Dr02).await;
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.detail);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_no_output_fails_the_do_checks() {
    let r = rig(vec![], |d| d.output = false, 13).await;
    for id in [CheckId::Do01, CheckId::Do02, CheckId::Do03] {
        let o = run_one(&r.ctx, id).await;
        assert_eq!(o.verdict, Verdict::Fail, "{id}: {}", o.detail);
        assert!(o.detail.contains("data.output = false"), "{}", o.detail);
    }
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_trigger_takes_pushes_the_terminal_makes_by_itself() {
    let r = rig(vec![], |d| d.trigger = Trigger::Auto, 14).await;
    // Stand-in for the terminal acting on its own: its test hook is used
    // by someone other than the harness, before and during the checks.
    let base = r.mock.data_base_url();
    let hook =
        s301_harness::binding::http::TerminalClient::new(&base, std::time::Duration::from_secs(2))
            .unwrap();
    let created = hook.test_report().await.expect("hook answers");
    let id = created.json().unwrap()["reportId"]
        .as_str()
        .unwrap()
        .to_string();
    let o = run_one(&r.ctx, CheckId::Do01).await;
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.detail);
    assert!(o.detail.contains(&id), "{}", o.detail);
    let updater = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        hook.test_update(&id).await.map(|r| r.status)
    });
    let o = run_one(&r.ctx, CheckId::Do02).await;
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.detail);
    assert_eq!(updater.await.unwrap().unwrap(), 202);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_trigger_times_out_with_a_clear_fail() {
    let r = rig_with(
        vec![s301_mocks::Fault::NoPush],
        |d| d.trigger = Trigger::Manual,
        |sc| sc.data.manual_timeout_ms = 1500,
        15,
    )
    .await;
    let t0 = std::time::Instant::now();
    let o = run_one(&r.ctx, CheckId::Do01).await;
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.detail);
    assert!(
        o.detail.contains("no report was pushed")
            && o.detail.contains("1500 ms")
            && o.detail.contains("manual"),
        "{}",
        o.detail
    );
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_trigger_passes_when_the_operator_acts() {
    let r = rig_with(
        vec![],
        |d| d.trigger = Trigger::Manual,
        |sc| sc.data.manual_timeout_ms = 5000,
        16,
    )
    .await;
    let hook = s301_harness::binding::http::TerminalClient::new(
        &r.mock.data_base_url(),
        std::time::Duration::from_secs(2),
    )
    .unwrap();
    // The "operator" places a test call a moment after being asked.
    let op = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        hook.test_report().await.map(|r| r.status)
    });
    let o = run_one(&r.ctx, CheckId::Do01).await;
    assert_eq!(o.verdict, Verdict::Pass, "{}", o.detail);
    assert_eq!(op.await.unwrap().unwrap(), 202);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_schema_replaces_the_shipped_one() {
    let dir = std::env::temp_dir().join(format!("s301-dept-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dept.schema.json");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(br#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","required":["reportId","revision","deptCode"]}"#)
        .unwrap();
    let p = path.to_string_lossy().to_string();
    let r = rig(vec![], move |d| d.schema = Some(p), 17).await;
    let o = run_one(&r.ctx, CheckId::Do01).await;
    assert_eq!(o.verdict, Verdict::Fail, "{}", o.detail);
    assert!(o.detail.contains("deptCode"), "{}", o.detail);
    r.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dr02_plan_is_replayed_by_its_seed_and_records_screen_overlap() {
    let plan_of = |o: &s301_harness::checks::Outcome| o.evidence["plan"].clone();
    let a = rig(vec![], |_| {}, 99).await;
    a.dc.set_screen_lane_active(true);
    let oa = run_one(&a.ctx, CheckId::Dr02).await;
    a.dc.set_screen_lane_active(false);
    assert_eq!(oa.verdict, Verdict::Pass, "{}", oa.detail);
    let planned = oa.evidence["counts"]["planned"].clone();
    assert_eq!(
        oa.evidence["counts"]["during_screen"], planned,
        "every request overlapped the (flagged) screen lane"
    );
    a.shutdown().await;
    let b = rig(vec![], |_| {}, 99).await;
    let ob = run_one(&b.ctx, CheckId::Dr02).await;
    assert_eq!(plan_of(&oa), plan_of(&ob), "same seed, same schedule");
    assert_eq!(ob.evidence["counts"]["during_screen"], 0);
    b.shutdown().await;
    let c = rig(vec![], |_| {}, 100).await;
    let oc = run_one(&c.ctx, CheckId::Dr02).await;
    assert_ne!(plan_of(&oa), plan_of(&oc), "another seed, another schedule");
    c.shutdown().await;
}
