-- EMIS data served by mcp-server when DATABASE_URL is set; loaded by `mcp-server import`.
-- *_norm columns hold names normalised by the server (NFKC, accents removed, case-folded),
-- so matching is identical to the embedded backend.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE IF NOT EXISTS emis_schools (
    id                  text PRIMARY KEY,
    name                text NOT NULL,
    name_norm           text NOT NULL,
    country             text NOT NULL CHECK (country IN ('KE', 'US')),
    level               text NOT NULL CHECK (level IN ('pre_primary', 'primary', 'secondary', 'other', 'unknown')),
    level_detail        text NOT NULL,
    ownership           text CHECK (ownership IN ('public', 'private')),
    status              text,
    school_type         text,
    county              text,
    county_norm         text,
    sub_county          text,
    sub_county_norm     text,
    ward                text,
    zone                text,
    district            text,
    city                text,
    address             text,
    zip                 text,
    district_id         text,
    grades              text,
    website             text,
    phone               text,
    latitude            double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude           double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    enrolment           integer CHECK (enrolment >= 0),
    teachers            integer CHECK (teachers >= 0),
    pupil_teacher_ratio double precision,
    code                text,
    source              text NOT NULL
);

CREATE INDEX IF NOT EXISTS emis_schools_name_trgm ON emis_schools USING gin (name_norm gin_trgm_ops);
CREATE INDEX IF NOT EXISTS emis_schools_county ON emis_schools (county_norm);
CREATE INDEX IF NOT EXISTS emis_schools_sub_county ON emis_schools (sub_county_norm);
CREATE INDEX IF NOT EXISTS emis_schools_country_level ON emis_schools (country, level);
CREATE INDEX IF NOT EXISTS emis_schools_position ON emis_schools (latitude, longitude);

CREATE TABLE IF NOT EXISTS emis_stories (
    id              text PRIMARY KEY,
    story_number    text NOT NULL,
    language        text NOT NULL,
    language_name   text NOT NULL,
    title           text NOT NULL,
    title_norm      text NOT NULL,
    body            text NOT NULL,
    pages           integer NOT NULL,
    words           integer NOT NULL,
    license         text NOT NULL,
    text_by         text NOT NULL,
    illustration_by text NOT NULL,
    translation_by  text,
    asp_url         text,
    license_url     text,
    source_repo     text NOT NULL,
    source_path     text NOT NULL,
    source_commit   text NOT NULL,
    attribution     text NOT NULL,
    -- normalised title and body, searched word by word
    search          tsvector NOT NULL
);

CREATE INDEX IF NOT EXISTS emis_stories_search ON emis_stories USING gin (search);
CREATE INDEX IF NOT EXISTS emis_stories_title_trgm ON emis_stories USING gin (title_norm gin_trgm_ops);
CREATE INDEX IF NOT EXISTS emis_stories_language ON emis_stories (language);
