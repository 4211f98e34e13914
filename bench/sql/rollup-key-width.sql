-- Upsert cost by conflict key width, on 4,706 rollup-shaped rows (run in a scratch database:
-- createdb scratch && psql -d scratch -f bench/sql/rollup-key-width.sql). On the benchmark machine:
-- through the 19-column primary key ~45 us per row, through one bigint key ~8 us (src/reporting/README.md).
\timing on
create table r_wide (attribution text, dim_set smallint, grain smallint, bucket timestamptz, campaign_id int, ts int, offer int, lander int, net int, rule smallint, path smallint, country varchar(2), device text, os text, browser text, language varchar(8), is_bot bool, type varchar(64), status text, n int, primary key (attribution, dim_set, grain, bucket, campaign_id, ts, offer, lander, net, rule, path, country, device, os, browser, language, is_bot, type, status)) with (fillfactor = 90);
create table r_narrow (k bigint primary key, attribution text, dim_set smallint, grain smallint, bucket timestamptz, campaign_id int, ts int, offer int, lander int, net int, rule smallint, path smallint, country varchar(2), device text, os text, browser text, language varchar(8), is_bot bool, type varchar(64), status text, n int) with (fillfactor = 90);
create temp table src as select distinct (array['visit','postback'])[1 + g % 2] a, (g % 6)::smallint s, 60::smallint gr, date_trunc('hour', now()) b, 1 c, 1 t, 0 o, 0 l, 0 ne, -1::smallint ru, 0::smallint pa, (array['US','GB','DE','FR','ES','IT','NL','BR','MX','CA','AU','JP','IN','ID','PH','TR','PL','RU','UA','ZA'])[1 + (g/7) % 20] co, (array['mobile','desktop','tablet'])[1 + g % 3] de, (array['iOS','Android','Windows','Mac OS'])[1 + (g/3) % 4] os, (array['Chrome','Safari','Edge','Firefox','Samsung Browser'])[1 + (g/11) % 5] br, (array['en','de','fr','es','pt'])[1 + (g/13) % 5] la, false bo, 'conversion'::text ty, 'approved'::text st from generate_series(1, 8000) g;
create temp table src_k as select hashtextextended(concat_ws('|', src.*), 0) k, * from src;
insert into r_wide select *, 1 from src;
insert into r_narrow select *, 1 from src_k;
\echo wide
insert into r_wide as r select *, 1 from src order by 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19 on conflict on constraint r_wide_pkey do update set n = r.n + excluded.n;
insert into r_wide as r select *, 1 from src order by 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19 on conflict on constraint r_wide_pkey do update set n = r.n + excluded.n;
\echo narrow
insert into r_narrow as r select *, 1 from src_k order by 1 on conflict (k) do update set n = r.n + excluded.n;
insert into r_narrow as r select *, 1 from src_k order by 1 on conflict (k) do update set n = r.n + excluded.n;
