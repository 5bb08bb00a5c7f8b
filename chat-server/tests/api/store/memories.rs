//! `MemoryStore` on both engines: saving with merges, replacements and the
//! per-user bound; recall (through the recall index) and search, of one
//! owner only; the version every change moves on; changes, lapses, deletes
//! and profiles.

use chat_server::{
    domain::{Profile, ProfileRole},
    memory::{index::RecallIndex, recall::Candidate},
    store::{
        ChatStore, Session,
        memories::{
            Added, Memory, MemoryChange, MemoryKind, MemoryStore, NewMemory, Origin, Retention,
            Source, Windows,
        },
        now_ms,
        sql::SqlStore,
        users::UserStore,
    },
};

use super::owner;

const DAY: i64 = 86_400_000;
const WINDOWS: Windows = Windows {
    short_ms: 30 * DAY,
    long_ms: 365 * DAY,
};

fn new<'a>(owner: &'a str, text: &'a str, retention: Retention, at: i64) -> NewMemory<'a> {
    NewMemory {
        owner,
        kind: MemoryKind::Fact,
        text,
        norm: text,
        slot: None,
        retention,
        origin: Origin::Told,
        source: Source::default(),
        tokens: 5,
        at,
        expires_at: WINDOWS.expiry(retention, at),
    }
}

async fn add(store: &SqlStore, memory: NewMemory<'_>) -> Memory {
    match store
        .add_memory(&memory, 1000, &WINDOWS)
        .await
        .expect("add")
    {
        Added::New(m) | Added::Merged(m) => m,
        Added::Full => panic!("full"),
    }
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| (*w).to_owned()).collect()
}

/// What a prompt of `owner` chooses from, through a fresh recall index.
async fn candidates(
    store: &SqlStore,
    owner: &str,
    terms: &[&str],
    session: Option<&str>,
    now: i64,
    limits: (usize, usize),
) -> Vec<Candidate> {
    RecallIndex::default()
        .of(store, owner, now)
        .await
        .expect("index")
        .candidates(&words(terms), session, now, limits)
}

fn texts(memories: &[Memory]) -> Vec<&str> {
    memories.iter().map(|m| m.text.as_str()).collect()
}

async fn memories_are_merged_replaced_and_bounded(store: SqlStore) {
    let me = owner();
    let now = now_ms();
    let first = add(&store, new(&me, "i work in kisumu", Retention::Short, now)).await;
    let again = store
        .add_memory(
            &new(&me, "i work in kisumu", Retention::Long, now + 1),
            1000,
            &WINDOWS,
        )
        .await
        .expect("again");
    let Added::Merged(merged) = again else {
        panic!("the same text is merged: {again:?}")
    };
    assert_eq!(merged.id, first.id);
    assert_eq!(
        merged.retention,
        Retention::Long,
        "the longer retention wins"
    );
    assert_eq!(merged.expires_at, Some(now + 1 + 365 * DAY));

    let mut language = new(&me, "answer in english", Retention::Long, now);
    language.slot = Some("language");
    let old = add(&store, language.clone()).await;
    language.text = "answer in kiswahili";
    language.norm = "answer in kiswahili";
    let newer = add(&store, language).await;
    let (active, total) = store.memories(&me, &[], 10, 0).await.expect("list");
    assert_eq!(total, 2);
    let mut listed = texts(&active);
    listed.sort_unstable();
    assert_eq!(listed, ["answer in kiswahili", "i work in kisumu"]);
    assert!(!texts(&active).contains(&"answer in english"), "replaced");
    let history = store
        .memory(&me, &old.id)
        .await
        .expect("read")
        .expect("kept as history");
    assert_eq!(history.replaced_by.as_deref(), Some(newer.id.as_str()));
    assert_eq!(store.export_memories(&me).await.expect("export").len(), 3);

    // At the bound, the least used short-term memory makes room.
    let bounded = owner();
    let used = add(&store, new(&bounded, "used often", Retention::Short, now)).await;
    store
        .mark_used(&bounded, std::slice::from_ref(&used.id), 1, now, &WINDOWS)
        .await
        .expect("used");
    add(&store, new(&bounded, "never used", Retention::Short, now)).await;
    let third = store
        .add_memory(&new(&bounded, "a third", Retention::Long, now), 2, &WINDOWS)
        .await
        .expect("third");
    assert!(matches!(third, Added::New(_)));
    let (left, _) = store.memories(&bounded, &[], 10, 0).await.expect("list");
    let mut left = texts(&left);
    left.sort_unstable();
    assert_eq!(left, ["a third", "used often"]);
    store
        .add_memory(
            &new(&bounded, "pinned one", Retention::Pinned, now),
            2,
            &WINDOWS,
        )
        .await
        .expect("fourth");
    let full = store
        .add_memory(
            &new(&bounded, "one too many", Retention::Long, now),
            2,
            &WINDOWS,
        )
        .await
        .expect("full");
    assert_eq!(full, Added::Full, "nothing short-term is left to give way");
}

async fn recall_and_search_see_one_owner_only(store: SqlStore) {
    let (me, other) = (owner(), owner());
    let now = now_ms();
    let session = Session::new(Some(&me), "s", None);
    store.create_session(&session).await.expect("session");
    add(
        &store,
        new(&me, "My school is Kisumu Girls High", Retention::Long, now),
    )
    .await;
    add(
        &store,
        new(&me, "I like short answers", Retention::Pinned, now),
    )
    .await;
    let mut here = new(
        &me,
        "Kisumu figures for this report only",
        Retention::Session,
        now,
    );
    here.source.session_id = Some(session.id.clone());
    add(&store, here).await;
    add(
        &store,
        new(&me, "lapsed kisumu note", Retention::Short, now - 31 * DAY),
    )
    .await;
    add(
        &store,
        new(&other, "Kisumu is my county too", Retention::Pinned, now),
    )
    .await;

    let found = candidates(&store, &me, &["kisumu"], None, now, (10, 10)).await;
    assert!(found.iter().all(|c| c.memory.owner == me), "only mine");
    let matched: Vec<&str> = found
        .iter()
        .filter(|c| c.matched)
        .map(|c| c.memory.text.as_str())
        .collect();
    assert_eq!(
        matched,
        ["My school is Kisumu Girls High"],
        "no session or lapsed memory"
    );
    assert!(
        found
            .iter()
            .any(|c| c.memory.text == "I like short answers" && !c.matched),
        "pinned memories are always candidates"
    );
    let in_session = candidates(&store, &me, &["kisumu"], Some(&session.id), now, (10, 10)).await;
    assert!(
        in_session
            .iter()
            .any(|c| c.memory.text.starts_with("Kisumu figures") && c.matched)
    );
    // A prefix matches; search needs every term.
    let (hits, total) = store
        .memories(&me, &words(&["kisum", "girls"]), 10, 0)
        .await
        .expect("search");
    assert_eq!(
        (texts(&hits), total),
        (vec!["My school is Kisumu Girls High"], 1)
    );
    let (theirs, _) = store
        .memories(&other, &words(&["school"]), 10, 0)
        .await
        .expect("search");
    assert!(theirs.is_empty(), "another owner's words are not theirs");

    // Many owners, many questions: a candidate is always the asker's.
    let owners: Vec<String> = (0..4).map(|_| owner()).collect();
    let places = ["Nairobi", "Mombasa", "Kisumu", "Nakuru", "Lamu", "Orange"];
    let mut rng = fastrand::Rng::with_seed(7);
    for i in 0..60 {
        let who = &owners[rng.usize(..owners.len())];
        let text = format!(
            "note {i} about {} schools",
            places[rng.usize(..places.len())]
        );
        add(&store, new(who, &text, Retention::Long, now)).await;
    }
    for _ in 0..40 {
        let who = &owners[rng.usize(..owners.len())];
        let term = places[rng.usize(..places.len())].to_lowercase();
        let found = candidates(&store, who, &[&term, "schools"], None, now, (50, 50)).await;
        assert!(found.iter().all(|c| &c.memory.owner == who));
    }
}

async fn changes_uses_lapses_and_deletes_keep_to_their_owner(store: SqlStore) {
    let (me, other) = (owner(), owner());
    let now = now_ms();
    let note = add(&store, new(&me, "the old words", Retention::Short, now)).await;
    let change = MemoryChange {
        text: Some((
            "the brand new wording".into(),
            "the brand new wording".into(),
            6,
        )),
        retention: Some((Retention::Pinned, None)),
        at: now + 5,
        ..MemoryChange::default()
    };
    assert!(
        store
            .change_memory(&other, &note.id, &change)
            .await
            .expect("change")
            .is_none(),
        "another owner cannot change it"
    );
    let changed = store
        .change_memory(&me, &note.id, &change)
        .await
        .expect("change")
        .expect("mine");
    assert_eq!(
        (changed.retention, changed.expires_at),
        (Retention::Pinned, None)
    );
    let (hits, _) = store
        .memories(&me, &words(&["brand"]), 10, 0)
        .await
        .expect("search");
    assert_eq!(hits.len(), 1, "the index follows the new text");
    let (gone, _) = store
        .memories(&me, &words(&["old"]), 10, 0)
        .await
        .expect("search");
    assert!(gone.is_empty(), "and forgets the old");

    let short = add(
        &store,
        new(&me, "a short one", Retention::Short, now - 29 * DAY),
    )
    .await;
    store
        .mark_used(&me, std::slice::from_ref(&short.id), 1, now, &WINDOWS)
        .await
        .expect("used");
    let used = store
        .memory(&me, &short.id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!((used.use_count, used.expires_at), (1, Some(now + 30 * DAY)));
    let lapsing = add(&store, new(&me, "lapses", Retention::Short, now - 31 * DAY)).await;
    assert!(store.prune_memories(now).await.expect("prune") >= 1);
    assert!(
        store
            .memory(&me, &lapsing.id)
            .await
            .expect("read")
            .is_none()
    );
    assert!(store.memory(&me, &short.id).await.expect("read").is_some());

    assert!(
        !store
            .delete_memory(&other, &short.id)
            .await
            .expect("delete")
    );
    assert!(store.delete_memory(&me, &short.id).await.expect("delete"));
    add(&store, new(&other, "theirs", Retention::Long, now)).await;
    assert_eq!(store.delete_memories(&me).await.expect("all"), 1);
    assert_eq!(store.memories(&other, &[], 10, 0).await.expect("list").1, 1);

    // A session's own memories go with the session.
    let session = Session::new(Some(&me), "s", None);
    store.create_session(&session).await.expect("session");
    let mut here = new(&me, "for this chat", Retention::Session, now);
    here.source.session_id = Some(session.id.clone());
    let here = add(&store, here).await;
    let mut kept = new(&me, "kept after the chat", Retention::Long, now);
    kept.source.session_id = Some(session.id.clone());
    let kept = add(&store, kept).await;
    store.delete_session(&session.id).await.expect("delete");
    assert!(store.memory(&me, &here.id).await.expect("read").is_none());
    assert!(store.memory(&me, &kept.id).await.expect("read").is_some());
}

async fn profiles_are_saved_and_deleted_with_their_user(store: SqlStore) {
    let name = format!("p{}", &owner()[5..17]);
    let user = store
        .create_user(&name, None, chat_server::domain::UserRole::User)
        .await
        .expect("user");
    assert_eq!(store.profile(&user.id).await.expect("read"), None);
    let profile = Profile {
        display_name: Some("Achieng".into()),
        role: Some(ProfileRole::CountyOfficer),
        country: Some("KE".into()),
        county: Some("Kisumu".into()),
        language: Some("Kiswahili".into()),
        detail: Some(chat_server::domain::Detail::Short),
        memory_enabled: false,
    };
    store
        .save_profile(&user.id, &profile, 1)
        .await
        .expect("save");
    assert_eq!(
        store.profile(&user.id).await.expect("read"),
        Some(profile.clone())
    );
    let changed = Profile {
        county: None,
        memory_enabled: true,
        ..profile
    };
    store
        .save_profile(&user.id, &changed, 2)
        .await
        .expect("save");
    assert_eq!(store.profile(&user.id).await.expect("read"), Some(changed));
    add(&store, new(&user.id, "mine", Retention::Pinned, now_ms())).await;
    let session = Session::new(Some(&user.id), "theirs", None);
    store.create_session(&session).await.expect("session");
    assert!(store.delete_user(&user.id).await.expect("delete"));
    assert_eq!(store.profile(&user.id).await.expect("read"), None);
    assert_eq!(store.export_memories(&user.id).await.expect("export"), []);
    assert!(store.session(&session.id).await.expect("read").is_none());
    assert!(store.user_by_id(&user.id).await.expect("read").is_none());
}

async fn recall_candidates_are_bounded_and_the_recently_used_come_first(store: SqlStore) {
    let me = owner();
    let now = now_ms();
    for i in 0..300 {
        let text = format!("note {i} about primary schools");
        add(&store, new(&me, &text, Retention::Long, now - 300 + i)).await;
    }
    let found = candidates(&store, &me, &["primary"], None, now, (50, 10)).await;
    let matched: Vec<&str> = found
        .iter()
        .filter(|c| c.matched)
        .map(|c| c.memory.text.as_str())
        .collect();
    assert_eq!(matched.len(), 50, "however many match");
    assert_eq!(
        matched[0], "note 299 about primary schools",
        "the most recently used first"
    );
    assert!(found.len() <= 70);
}

/// A memory saved before its month's partition existed (in the default
/// partition) moves into the partition when it is made (PostgreSQL).
#[tokio::test]
async fn a_months_partition_takes_its_rows_from_the_default_one() {
    let store = crate::store::postgres().await;
    let me = owner();
    // 10 March of a year of its own, far ahead: no partition yet.
    let year = fastrand::i32(2100..2900);
    let at = time::Date::from_calendar_date(year, time::Month::March, 10)
        .expect("date")
        .midnight()
        .assume_utc()
        .unix_timestamp()
        * 1000;
    let partition = format!("memories_y{year}m03");
    let early = add(&store, new(&me, "saved early", Retention::Pinned, at)).await;
    let url = crate::support::postgres_url();
    let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
    let place = |pool: sqlx::PgPool, id: String| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT tableoid::regclass::text FROM memories WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .expect("where")
    };
    assert_eq!(
        place(pool.clone(), early.id.clone()).await,
        "memories_default"
    );
    store.prepare_partitions(at, 0).await.expect("partitions");
    assert_eq!(place(pool.clone(), early.id.clone()).await, partition);
    assert_eq!(
        store
            .memory(&me, &early.id)
            .await
            .expect("read")
            .map(|m| m.text),
        Some("saved early".into())
    );
    let later = add(&store, new(&me, "saved later", Retention::Pinned, at + 1)).await;
    assert_eq!(place(pool.clone(), later.id).await, partition);
    sqlx::query(&format!("DROP TABLE {partition}"))
        .execute(&pool)
        .await
        .expect("the test's partition goes");
}

/// Every change to what may be recalled moves the owner's version on, and
/// a held index sees it at the next recall; a use counted, or the same text
/// said again, does not (and nothing of another owner's does).
async fn every_change_moves_the_owners_version_and_a_held_index_follows(store: SqlStore) {
    let (me, other) = (owner(), owner());
    let now = now_ms();
    let version = |who: String| {
        let store = store.clone();
        async move { store.memory_version(&who).await.expect("version") }
    };
    assert_eq!(version(me.clone()).await, 0, "nothing kept yet");
    let index = RecallIndex::default();
    let recalled = |terms: &'static [&'static str]| {
        let (store, me, index) = (store.clone(), me.clone(), &index);
        async move {
            index
                .of(&store, &me, now)
                .await
                .expect("index")
                .candidates(&words(terms), None, now, (10, 0))
                .into_iter()
                .map(|c| c.memory.text)
                .collect::<Vec<_>>()
        }
    };
    let note = add(&store, new(&me, "the kisumu visit", Retention::Short, now)).await;
    assert_eq!(recalled(&["kisumu"]).await, ["the kisumu visit"]);
    let start = version(me.clone()).await;
    let mut last = start;
    let mut moved = |v: i64, what: &str| {
        assert!(v > last, "{what} moves the version ({last} -> {v})");
        last = v;
    };
    add(
        &store,
        new(&me, "the kisumu visit", Retention::Short, now + 1),
    )
    .await;
    store
        .mark_used(&me, std::slice::from_ref(&note.id), 1, now + 2, &WINDOWS)
        .await
        .expect("used");
    add(
        &store,
        new(&other, "their kisumu visit", Retention::Long, now),
    )
    .await;
    assert_eq!(
        version(me.clone()).await,
        start,
        "said again, used, or another owner's: no change"
    );
    add(
        &store,
        new(&me, "the kisumu visit", Retention::Long, now + 3),
    )
    .await;
    moved(version(me.clone()).await, "kept longer");
    let change = MemoryChange {
        text: Some(("the nakuru visit".into(), "the nakuru visit".into(), 4)),
        at: now + 4,
        ..MemoryChange::default()
    };
    store
        .change_memory(&me, &note.id, &change)
        .await
        .expect("change");
    moved(version(me.clone()).await, "an edit");
    assert_eq!(recalled(&["kisumu"]).await, Vec::<String>::new());
    assert_eq!(recalled(&["nakuru"]).await, ["the nakuru visit"]);
    let mut slot = new(&me, "answer in english", Retention::Long, now);
    slot.slot = Some("language");
    add(&store, slot.clone()).await;
    moved(version(me.clone()).await, "a new memory");
    slot.text = "answer in kiswahili";
    slot.norm = "answer in kiswahili";
    add(&store, slot).await;
    moved(version(me.clone()).await, "a replacement");
    assert_eq!(recalled(&["answer"]).await, ["answer in kiswahili"]);
    assert!(store.delete_memory(&me, &note.id).await.expect("delete"));
    moved(version(me.clone()).await, "a delete");
    assert_eq!(
        recalled(&["nakuru"]).await,
        Vec::<String>::new(),
        "forgotten"
    );
    add(&store, new(&me, "lapses", Retention::Short, now - 31 * DAY)).await;
    moved(version(me.clone()).await, "another new memory");
    store.prune_memories(now).await.expect("prune");
    moved(version(me.clone()).await, "a lapse pruned");
    let session = Session::new(Some(&me), "s", None);
    store.create_session(&session).await.expect("session");
    let mut here = new(&me, "for this chat", Retention::Session, now);
    here.source.session_id = Some(session.id.clone());
    add(&store, here).await;
    moved(version(me.clone()).await, "a session memory");
    store.delete_session(&session.id).await.expect("delete");
    moved(version(me.clone()).await, "its session deleted");
    store.delete_memories(&me).await.expect("all");
    moved(version(me.clone()).await, "all deleted");
    assert_eq!(recalled(&["answer"]).await, Vec::<String>::new());
}

/// Saves and counted uses at once, as a turn's extraction and the next
/// prompt make them: every one is done (on SQLite a transaction that reads
/// before it writes takes the write lock first, or it would fail "locked").
async fn saves_and_uses_at_once_all_succeed(store: SqlStore) {
    let me = owner();
    let now = now_ms();
    let first = add(&store, new(&me, "the first note", Retention::Long, now)).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (store, me, id) = (store.clone(), me.clone(), first.id.clone());
        tasks.push(tokio::spawn(async move {
            let text = format!("note number {i}");
            store
                .add_memory(&new(&me, &text, Retention::Short, now), 1000, &WINDOWS)
                .await
                .map(|_| ())?;
            store.mark_used(&me, &[id], 1, now + i, &WINDOWS).await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("saved and counted");
    }
    let (_, total) = store.memories(&me, &[], 1, 0).await.expect("list");
    assert_eq!(total, 41);
    let used = store
        .memory(&me, &first.id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(used.use_count, 40);
}

on_both_engines!(
    saves_and_uses_at_once_all_succeed,
    every_change_moves_the_owners_version_and_a_held_index_follows,
    recall_candidates_are_bounded_and_the_recently_used_come_first,
    memories_are_merged_replaced_and_bounded,
    recall_and_search_see_one_owner_only,
    changes_uses_lapses_and_deletes_keep_to_their_owner,
    profiles_are_saved_and_deleted_with_their_user,
);
