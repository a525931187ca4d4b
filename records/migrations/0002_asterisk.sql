-- Asterisk's own CDR and CEL (cdr_pgsql, cel_pgsql), in the standard tables: the modules match
-- the columns by name. Joined to call_records by call id (uniqueid / linkedid).

CREATE TABLE cdr (
    calldate      timestamptz NOT NULL DEFAULT now(),
    clid          varchar(80) NOT NULL DEFAULT '',
    src           varchar(80) NOT NULL DEFAULT '',
    dst           varchar(80) NOT NULL DEFAULT '',
    dcontext      varchar(80) NOT NULL DEFAULT '',
    channel       varchar(80) NOT NULL DEFAULT '',
    dstchannel    varchar(80) NOT NULL DEFAULT '',
    lastapp       varchar(80) NOT NULL DEFAULT '',
    lastdata      varchar(80) NOT NULL DEFAULT '',
    duration      bigint NOT NULL DEFAULT 0,
    billsec       bigint NOT NULL DEFAULT 0,
    disposition   varchar(45) NOT NULL DEFAULT '',
    amaflags      bigint NOT NULL DEFAULT 0,
    accountcode   varchar(20) NOT NULL DEFAULT '',
    uniqueid      varchar(150) NOT NULL DEFAULT '',
    userfield     varchar(255) NOT NULL DEFAULT '',
    peeraccount   varchar(20) NOT NULL DEFAULT '',
    linkedid      varchar(150) NOT NULL DEFAULT '',
    sequence      integer NOT NULL DEFAULT 0
);
CREATE INDEX cdr_calldate ON cdr (calldate);
CREATE INDEX cdr_uniqueid ON cdr (uniqueid);
CREATE INDEX cdr_linkedid ON cdr (linkedid);

CREATE TABLE cel (
    id            bigserial PRIMARY KEY,
    eventtype     varchar(30) NOT NULL,
    eventtime     timestamptz NOT NULL,
    userdeftype   varchar(255) NOT NULL DEFAULT '',
    cid_name      varchar(80) NOT NULL DEFAULT '',
    cid_num       varchar(80) NOT NULL DEFAULT '',
    cid_ani       varchar(80) NOT NULL DEFAULT '',
    cid_rdnis     varchar(80) NOT NULL DEFAULT '',
    cid_dnid      varchar(80) NOT NULL DEFAULT '',
    exten         varchar(80) NOT NULL DEFAULT '',
    context       varchar(80) NOT NULL DEFAULT '',
    channame      varchar(80) NOT NULL DEFAULT '',
    appname       varchar(80) NOT NULL DEFAULT '',
    appdata       varchar(512) NOT NULL DEFAULT '',
    amaflags      integer NOT NULL DEFAULT 0,
    accountcode   varchar(20) NOT NULL DEFAULT '',
    peeraccount   varchar(20) NOT NULL DEFAULT '',
    uniqueid      varchar(150) NOT NULL DEFAULT '',
    linkedid      varchar(150) NOT NULL DEFAULT '',
    userfield     varchar(255) NOT NULL DEFAULT '',
    peer          varchar(80) NOT NULL DEFAULT '',
    extra         varchar(512) NOT NULL DEFAULT ''
);
CREATE INDEX cel_linkedid ON cel (linkedid);
CREATE INDEX cel_eventtime ON cel (eventtime);
