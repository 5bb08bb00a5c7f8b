//! `JobStore` on both engines: a job is claimed by one worker at a time,
//! taken over once its lease ends, and finished only by its holder.

use std::{collections::HashSet, sync::Arc};

use chat_server::store::{jobs::JobStore, sql::SqlStore};

use super::owner;

/// A kind of job of this test alone, in a database other tests share
/// (workers claim the kinds they know).
fn kind() -> String {
    format!("test.{}", owner())
}

async fn claim_kind(
    store: &SqlStore,
    kind: &str,
    worker: &str,
    now: i64,
    until: i64,
) -> Option<chat_server::store::jobs::Job> {
    store.claim(kind, worker, now, until).await.expect("claim")
}

async fn a_job_is_held_by_one_worker_and_taken_over_after_its_lease(store: SqlStore) {
    let kind = kind();
    let id = store.enqueue(&kind, "{}", 1_000).await.expect("enqueue");
    assert!(
        claim_kind(&store, &kind, "a", 999, 60_000).await.is_none(),
        "not due yet"
    );
    let job = claim_kind(&store, &kind, "a", 1_000, 60_000)
        .await
        .expect("claimed");
    assert_eq!((job.id.as_str(), job.attempts), (id.as_str(), 1));
    assert!(
        claim_kind(&store, &kind, "b", 2_000, 62_000)
            .await
            .is_none(),
        "held by a"
    );
    // a died: after its lease, b takes the job over; a's late answer counts for nothing.
    let again = claim_kind(&store, &kind, "b", 60_001, 120_000)
        .await
        .expect("taken over");
    assert_eq!((again.id.as_str(), again.attempts), (id.as_str(), 2));
    assert!(!store.complete(&id, "a").await.expect("complete"));
    assert!(store.complete(&id, "b").await.expect("complete"));
    assert!(
        claim_kind(&store, &kind, "c", 1_000_000, 2_000_000)
            .await
            .is_none()
    );
}

async fn retries_wait_and_failures_are_kept(store: SqlStore) {
    let kind = kind();
    let id = store.enqueue(&kind, "{\"n\":1}", 0).await.expect("enqueue");
    let job = claim_kind(&store, &kind, "a", 10, 1_000)
        .await
        .expect("claimed");
    assert_eq!(job.payload, "{\"n\":1}");
    assert!(
        store
            .retry(&id, "a", 5_000, "model busy")
            .await
            .expect("retry")
    );
    assert!(
        claim_kind(&store, &kind, "a", 4_999, 9_000).await.is_none(),
        "backing off"
    );
    claim_kind(&store, &kind, "a", 5_000, 9_000)
        .await
        .expect("due again");
    let before = store.depth().await.expect("depth");
    assert!(store.fail(&id, "a", 6_000, "gave up").await.expect("fail"));
    let after = store.depth().await.expect("depth");
    assert_eq!(after.failed, before.failed + 1);
    assert!(
        claim_kind(&store, &kind, "a", 1_000_000, 2_000_000)
            .await
            .is_none()
    );
    assert!(store.prune_jobs(6_001).await.expect("prune") >= 1);
}

async fn workers_claiming_together_never_share_a_job(store: SqlStore) {
    let kind = kind();
    for _ in 0..20 {
        store.enqueue(&kind, "{}", 0).await.expect("enqueue");
    }
    let store = Arc::new(store);
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (store, kind) = (store.clone(), kind.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(job) =
                    claim_kind(&store, &kind, &format!("w{w}"), 1, 1_000_000).await
                {
                    mine.push(job.id);
                }
                mine
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut count = 0;
    for worker in workers {
        for id in worker.await.expect("worker") {
            count += 1;
            seen.insert(id);
        }
    }
    assert_eq!((count, seen.len()), (20, 20), "each job once");
}

on_both_engines!(
    a_job_is_held_by_one_worker_and_taken_over_after_its_lease,
    retries_wait_and_failures_are_kept,
    workers_claiming_together_never_share_a_job,
);
