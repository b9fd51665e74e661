-- A schema-3 store made by lokaalmeten at f064bf3 (before issue 14's roll-ups): noise
-- readings of 50 and 70 dB, a clipped one, PM with one high-humidity reading, and a
-- time-estimated temperature. Loaded by tests/store/test_sqlite.py to test the migration.
PRAGMA user_version=3;
BEGIN TRANSACTION;
CREATE TABLE daily (
    node_id INTEGER NOT NULL,
    quantity_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    n INTEGER NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    h00 INTEGER NOT NULL,
    h01 INTEGER NOT NULL,
    h02 INTEGER NOT NULL,
    h03 INTEGER NOT NULL,
    h04 INTEGER NOT NULL,
    h05 INTEGER NOT NULL,
    h06 INTEGER NOT NULL,
    h07 INTEGER NOT NULL,
    h08 INTEGER NOT NULL,
    h09 INTEGER NOT NULL,
    h10 INTEGER NOT NULL,
    h11 INTEGER NOT NULL,
    h12 INTEGER NOT NULL,
    h13 INTEGER NOT NULL,
    h14 INTEGER NOT NULL,
    h15 INTEGER NOT NULL,
    h16 INTEGER NOT NULL,
    h17 INTEGER NOT NULL,
    h18 INTEGER NOT NULL,
    h19 INTEGER NOT NULL,
    h20 INTEGER NOT NULL,
    h21 INTEGER NOT NULL,
    h22 INTEGER NOT NULL,
    h23 INTEGER NOT NULL,
    PRIMARY KEY (node_id, quantity_id, day)
) WITHOUT ROWID;
INSERT INTO "daily" VALUES(1,1,1795824000,13,819.0,50.0,99.0,6,6,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0);
INSERT INTO "daily" VALUES(1,2,1795824000,6,15.0,0.0,5.0,6,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0);
INSERT INTO "daily" VALUES(2,3,1795910400,1,4.5,4.5,4.5,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0);
CREATE TABLE hourly (
    node_id INTEGER NOT NULL,
    quantity_id INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    n INTEGER NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    PRIMARY KEY (node_id, quantity_id, hour)
) WITHOUT ROWID;
INSERT INTO "hourly" VALUES(1,1,1795824000,6,360.0,50.0,70.0);
INSERT INTO "hourly" VALUES(1,1,1795827600,6,360.0,50.0,70.0);
INSERT INTO "hourly" VALUES(1,1,1795831200,1,99.0,99.0,99.0);
INSERT INTO "hourly" VALUES(1,2,1795824000,6,15.0,0.0,5.0);
INSERT INTO "hourly" VALUES(2,3,1795910400,1,4.5,4.5,4.5);
CREATE TABLE node (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
INSERT INTO "node" VALUES(1,'kit-1');
INSERT INTO "node" VALUES(2,'kit-2');
CREATE TABLE node_sensor (
    node_id INTEGER NOT NULL,
    quantity_id INTEGER NOT NULL,
    sensor_id INTEGER NOT NULL,
    PRIMARY KEY (node_id, quantity_id, sensor_id)
) WITHOUT ROWID;
INSERT INTO "node_sensor" VALUES(1,1,1);
INSERT INTO "node_sensor" VALUES(1,2,2);
CREATE TABLE quantity (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
INSERT INTO "quantity" VALUES(1,'noise_laeq');
INSERT INTO "quantity" VALUES(2,'pm25');
INSERT INTO "quantity" VALUES(3,'temperature');
CREATE TABLE reading (
    node_id INTEGER NOT NULL,
    quantity_id INTEGER NOT NULL,
    time INTEGER NOT NULL,
    value REAL NOT NULL,
    sensor_id INTEGER,
    flags INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (node_id, quantity_id, time)
) WITHOUT ROWID;
INSERT INTO "reading" VALUES(1,1,1795824000,50.0,1,0);
INSERT INTO "reading" VALUES(1,1,1795824600,70.0,1,0);
INSERT INTO "reading" VALUES(1,1,1795825200,50.0,1,0);
INSERT INTO "reading" VALUES(1,1,1795825800,70.0,1,0);
INSERT INTO "reading" VALUES(1,1,1795826400,50.0,1,0);
INSERT INTO "reading" VALUES(1,1,1795827000,70.0,1,0);
INSERT INTO "reading" VALUES(1,1,1795827600,50.0,1,0);
INSERT INTO "reading" VALUES(1,1,1795828200,70.0,1,0);
INSERT INTO "reading" VALUES(1,1,1795828800,50.0,1,0);
INSERT INTO "reading" VALUES(1,1,1795829400,70.0,1,0);
INSERT INTO "reading" VALUES(1,1,1795830000,50.0,1,0);
INSERT INTO "reading" VALUES(1,1,1795830600,70.0,1,0);
INSERT INTO "reading" VALUES(1,1,1795831200,99.0,1,2);
INSERT INTO "reading" VALUES(1,2,1795824000,0.0,2,0);
INSERT INTO "reading" VALUES(1,2,1795824600,1.0,2,0);
INSERT INTO "reading" VALUES(1,2,1795825200,2.0,2,0);
INSERT INTO "reading" VALUES(1,2,1795825800,3.0,2,0);
INSERT INTO "reading" VALUES(1,2,1795826400,4.0,2,0);
INSERT INTO "reading" VALUES(1,2,1795827000,5.0,2,64);
INSERT INTO "reading" VALUES(2,3,1795910460,4.5,NULL,1);
CREATE TABLE sensor (id INTEGER PRIMARY KEY, model TEXT NOT NULL UNIQUE);
INSERT INTO "sensor" VALUES(1,'ICS43434');
INSERT INTO "sensor" VALUES(2,'SDS011');
CREATE TRIGGER reading_hourly AFTER INSERT ON reading BEGIN
    INSERT INTO hourly VALUES (NEW.node_id, NEW.quantity_id, NEW.time - NEW.time % 3600,
                               1, NEW.value, NEW.value, NEW.value)
    ON CONFLICT DO UPDATE SET n = n + 1, sum = sum + excluded.sum,
        min = min(min, excluded.min), max = max(max, excluded.max);
END;
CREATE TRIGGER reading_daily AFTER INSERT ON reading BEGIN
    INSERT INTO daily
    SELECT NEW.node_id, NEW.quantity_id, NEW.time - NEW.time % 86400, 1, NEW.value, NEW.value,
        NEW.value,
        h = 0, h = 1, h = 2, h = 3, h = 4, h = 5, h = 6, h = 7, h = 8, h = 9, h = 10,
        h = 11, h = 12, h = 13, h = 14, h = 15, h = 16, h = 17, h = 18, h = 19, h = 20,
        h = 21, h = 22, h = 23
    FROM (SELECT NEW.time % 86400 / 3600 AS h) WHERE true
    ON CONFLICT DO UPDATE SET n = n + 1, sum = sum + excluded.sum,
        min = min(min, excluded.min), max = max(max, excluded.max),
        h00 = h00 + excluded.h00, h01 = h01 + excluded.h01, h02 = h02 + excluded.h02,
        h03 = h03 + excluded.h03, h04 = h04 + excluded.h04, h05 = h05 + excluded.h05,
        h06 = h06 + excluded.h06, h07 = h07 + excluded.h07, h08 = h08 + excluded.h08,
        h09 = h09 + excluded.h09, h10 = h10 + excluded.h10, h11 = h11 + excluded.h11,
        h12 = h12 + excluded.h12, h13 = h13 + excluded.h13, h14 = h14 + excluded.h14,
        h15 = h15 + excluded.h15, h16 = h16 + excluded.h16, h17 = h17 + excluded.h17,
        h18 = h18 + excluded.h18, h19 = h19 + excluded.h19, h20 = h20 + excluded.h20,
        h21 = h21 + excluded.h21, h22 = h22 + excluded.h22, h23 = h23 + excluded.h23;
END;
COMMIT;
