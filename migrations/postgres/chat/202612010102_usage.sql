-- What each user spent, by hour (epoch ms / 3,600,000): runs and model
-- tokens. Kept apart from conversations, so deleting one (or a /v1 call that
-- keeps none) does not erase what it cost. The local user is ''.
CREATE TABLE IF NOT EXISTS usage_hourly (
    owner   text NOT NULL,
    hour    bigint NOT NULL,
    runs    bigint NOT NULL,
    tokens  bigint NOT NULL,
    PRIMARY KEY (owner, hour)
);
CREATE INDEX IF NOT EXISTS usage_hourly_hour ON usage_hourly (hour);
