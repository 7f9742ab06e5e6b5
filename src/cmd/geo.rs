//! The "geo" group: positions stored as 52-bit geohash scores in sorted sets (`crate::geo`
//! has the math). GEOADD is ZADD with computed scores; searches scan at most nine score
//! ranges and filter by exact distance, as Redis does, so results and their order agree.

use crate::cmd::args::{eq, float, int};
use crate::cmd::meta_gen as m;
use crate::cmd::table::Handler;
use crate::cmd::zsets::{self, zread};
use crate::exec::Ctx;
use crate::geo::{self, Search, Shape};
use crate::keyspace::types::zset::{AddFlags, ScoreRange, ZSet};
use crate::resp::errors::{self as err, CmdError, CmdResult};

/// (longitude, latitude) from two arguments, validated as Redis does.
fn lon_lat(a: &[u8], b: &[u8]) -> Result<(f64, f64), CmdError> {
    let lon = float(a)?;
    let lat = float(b)?;
    if !(geo::LONG_MIN..=geo::LONG_MAX).contains(&lon)
        || !(geo::LAT_MIN..=geo::LAT_MAX).contains(&lat)
    {
        return Err(err::geo_invalid_pair(lon, lat));
    }
    Ok((lon, lat))
}

fn unit(a: &[u8]) -> Result<f64, CmdError> {
    geo::unit_factor(a).ok_or_else(|| CmdError::from(err::GEO_UNIT))
}

fn float_or(a: &[u8], msg: &'static str) -> Result<f64, CmdError> {
    crate::util::num::parse_f64(a).ok_or_else(|| CmdError::from(msg))
}

/// Radius and unit (extractDistanceOrReply).
fn distance_arg(r: &[u8], u: &[u8]) -> Result<(f64, f64), CmdError> {
    let radius = float_or(r, err::GEO_NEED_RADIUS)?;
    if radius < 0.0 {
        return Err(err::GEO_RADIUS_NEGATIVE.into());
    }
    Ok((radius, unit(u)?))
}

/// Width, height and unit (extractBoxOrReply).
fn box_arg(w: &[u8], h: &[u8], u: &[u8]) -> Result<(f64, f64, f64), CmdError> {
    let width = float_or(w, err::GEO_NEED_WIDTH)?;
    let height = float_or(h, err::GEO_NEED_HEIGHT)?;
    if height < 0.0 || width < 0.0 {
        return Err(err::GEO_BOX_NEGATIVE.into());
    }
    Ok((width, height, unit(u)?))
}

pub fn geoadd(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut i = 2;
    while i < argv.len() {
        if eq(argv[i], "nx") {
            nx = true;
        } else if eq(argv[i], "xx") {
            xx = true;
        } else if eq(argv[i], "ch") {
            ch = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &argv[i..];
    if rest.len() % 3 != 0 || (xx && nx) || rest.is_empty() {
        return Err(err::SYNTAX.into());
    }
    let mut scores = Vec::with_capacity(rest.len() / 3);
    let mut members = Vec::with_capacity(rest.len() / 3);
    for t in rest.chunks(3) {
        let (lon, lat) = lon_lat(t[0], t[1])?;
        let score = geo::score_of(lon, lat).unwrap_or(0);
        scores.push(score as f64);
        members.push(t[2]);
    }
    let f = AddFlags {
        nx,
        xx,
        ..AddFlags::default()
    };
    zsets::zadd_apply(ctx, argv[1], f, ch, &scores, &members)
}

pub fn geohash(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let now = ctx.now_ms;
    let hashes: Vec<Option<[u8; 11]>> = match zread(ctx.ex, ctx.client, argv[1], now)? {
        Some(z) => argv[2..]
            .iter()
            .map(|m| z.score(m).map(geo::geohash_string))
            .collect(),
        None => vec![None; argv.len() - 2],
    };
    let out = ctx.out();
    out.array(hashes.len());
    for h in hashes {
        match h {
            Some(h) => out.bulk(&h),
            None => out.null(),
        }
    }
    Ok(())
}

pub fn geopos(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let now = ctx.now_ms;
    let pos: Vec<Option<(f64, f64)>> = match zread(ctx.ex, ctx.client, argv[1], now)? {
        Some(z) => argv[2..]
            .iter()
            .map(|m| z.score(m).map(geo::position_of))
            .collect(),
        None => vec![None; argv.len() - 2],
    };
    let out = ctx.out();
    out.array(pos.len());
    for p in pos {
        match p {
            Some((lon, lat)) => {
                out.array(2);
                out.human_long_double(lon);
                out.human_long_double(lat);
            }
            None => out.null_array(),
        }
    }
    Ok(())
}

/// Redis's addReplyDoubleDistance: `%.4f` as a bulk string.
fn push_distance(out: &mut crate::resp::reply::ReplyBuf, d: f64) {
    let mut tmp = Vec::with_capacity(32);
    crate::util::num::push_fixed(&mut tmp, d, 4);
    out.bulk(&tmp);
}

pub fn geodist(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let to_meter = match argv.len() {
        5 => unit(argv[4])?,
        n if n > 5 => return Err(err::SYNTAX.into()),
        _ => 1.0,
    };
    let now = ctx.now_ms;
    let d = match zread(ctx.ex, ctx.client, argv[1], now)? {
        Some(z) => match (z.score(argv[2]), z.score(argv[3])) {
            (Some(a), Some(b)) => {
                let (a, b) = (geo::position_of(a), geo::position_of(b));
                Some(geo::distance(a.0, a.1, b.0, b.1) / to_meter)
            }
            _ => None,
        },
        None => None,
    };
    match d {
        Some(d) => push_distance(ctx.out(), d),
        None => ctx.out().null(),
    }
    Ok(())
}

/// Which command form a search came from (Redis's RADIUS_* / GEOSEARCH flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    RadiusCoords { store: bool },
    RadiusMember { store: bool },
    Search { store: bool },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A member found by a search, with its distance from the centre in metres.
pub struct Point {
    pub member: Vec<u8>,
    pub score: f64,
    pub dist: f64,
    pub lon: f64,
    pub lat: f64,
}

/// The members of `z` inside the search shape, in Redis's discovery order (box by box, score
/// order within a box); with `limit` > 0 (ANY) it stops once that many are found.
pub fn points_within(z: &ZSet, s: &Search, limit: usize) -> Vec<Point> {
    let mut points: Vec<Point> = Vec::new();
    'boxes: for (min, max) in geo::search_ranges(s) {
        if limit != 0 && points.len() >= limit {
            break;
        }
        let range = ScoreRange {
            min: min as f64,
            max: max as f64,
            minex: false,
            maxex: true,
        };
        for (member, score) in z.walk(z.first_in_score(&range), false) {
            if !range.lte_max(score) {
                break;
            }
            if let Some((dist, (lon, lat))) = geo::within(s, score) {
                points.push(Point {
                    member: member.to_vec(),
                    score,
                    dist,
                    lon,
                    lat,
                });
            }
            if limit != 0 && points.len() >= limit {
                continue 'boxes;
            }
        }
    }
    points
}

fn member_position(z: Option<&ZSet>, member: &[u8]) -> Result<(f64, f64), CmdError> {
    z.and_then(|z| z.score(member))
        .map(geo::position_of)
        .ok_or_else(|| CmdError::from(err::GEO_MEMBER_DECODE))
}

/// The options of a search after parsing.
struct SearchArgs<'a> {
    store_key: Option<&'a [u8]>,
    storedist: bool,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    any: bool,
    count: i64,
}

/// GEORADIUS, GEORADIUSBYMEMBER, GEOSEARCH and GEOSEARCHSTORE (Redis's georadiusGeneric).
fn search_generic(ctx: &mut Ctx, src_idx: usize, form: Form) -> CmdResult {
    let argv = ctx.argv;
    let now = ctx.now_ms;
    let lim = zsets::limits(ctx.ex);
    let mut a = SearchArgs {
        store_key: None,
        storedist: false,
        withdist: false,
        withhash: false,
        withcoord: false,
        sort: Sort::None,
        any: false,
        count: 0,
    };
    let z: Option<&ZSet> = zread(ctx.ex, ctx.client, argv[src_idx], now)?.map(|z| &*z);
    let mut center: Option<(f64, f64)> = None;
    let mut shape: Option<Shape> = None;
    let mut conversion = 1.0;
    let (base, search, nostore) = match form {
        Form::RadiusCoords { store } => {
            center = Some(lon_lat(argv[2], argv[3])?);
            let (r, u) = distance_arg(argv[4], argv[5])?;
            (shape, conversion) = (Some(Shape::Radius(r)), u);
            (6, false, !store)
        }
        // Without a source key Redis still parses the options to pick the reply kind.
        Form::RadiusMember { store } if z.is_none() => (5, false, !store),
        Form::RadiusMember { store } => {
            center = Some(member_position(z, argv[2])?);
            let (r, u) = distance_arg(argv[3], argv[4])?;
            (shape, conversion) = (Some(Shape::Radius(r)), u);
            (5, false, !store)
        }
        Form::Search { store } => {
            if store {
                a.store_key = Some(argv[1]);
                (3, true, false)
            } else {
                (2, true, false)
            }
        }
    };
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let rest = &argv[base..];
    let mut i = 0;
    while i < rest.len() {
        let arg = rest[i];
        let left = rest.len() - i - 1;
        if eq(arg, "withdist") {
            a.withdist = true;
        } else if eq(arg, "withhash") {
            a.withhash = true;
        } else if eq(arg, "withcoord") {
            a.withcoord = true;
        } else if eq(arg, "any") {
            a.any = true;
        } else if eq(arg, "asc") {
            a.sort = Sort::Asc;
        } else if eq(arg, "desc") {
            a.sort = Sort::Desc;
        } else if eq(arg, "count") && left >= 1 {
            a.count = int(rest[i + 1])?;
            if a.count <= 0 {
                return Err(err::GEO_COUNT_POSITIVE.into());
            }
            i += 1;
        } else if (eq(arg, "store") || eq(arg, "storedist")) && left >= 1 && !nostore && !search {
            a.store_key = Some(rest[i + 1]);
            a.storedist = eq(arg, "storedist");
            i += 1;
        } else if eq(arg, "storedist") && search && a.store_key.is_some() && base == 3 {
            a.storedist = true;
        } else if eq(arg, "frommember") && left >= 1 && search && !fromloc {
            if z.is_some() {
                center = Some(member_position(z, rest[i + 1])?);
            }
            frommember = true;
            i += 1;
        } else if eq(arg, "fromlonlat") && left >= 2 && search && !frommember {
            center = Some(lon_lat(rest[i + 1], rest[i + 2])?);
            fromloc = true;
            i += 2;
        } else if eq(arg, "byradius") && left >= 2 && search && !bybox {
            let (r, u) = distance_arg(rest[i + 1], rest[i + 2])?;
            (shape, conversion) = (Some(Shape::Radius(r)), u);
            byradius = true;
            i += 2;
        } else if eq(arg, "bybox") && left >= 3 && search && !byradius {
            let (w, h, u) = box_arg(rest[i + 1], rest[i + 2], rest[i + 3])?;
            (shape, conversion) = (Some(Shape::Box(w, h)), u);
            bybox = true;
            i += 3;
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 1;
    }
    if a.store_key.is_some() && (a.withdist || a.withhash || a.withcoord) {
        return Err(err::geo_store_with_options(search));
    }
    if search && !(frommember || fromloc) {
        return Err(err::geo_exactly_one("FROMMEMBER or FROMLONLAT", argv[0]));
    }
    if search && !(byradius || bybox) {
        return Err(err::geo_exactly_one("BYRADIUS and BYBOX", argv[0]));
    }
    if a.any && a.count == 0 {
        return Err(err::GEO_ANY_NEEDS_COUNT.into());
    }
    let (Some(z), Some((lon, lat)), Some(shape)) = (z, center, shape) else {
        match a.store_key {
            Some(dst) => zsets::store_empty(ctx, dst),
            None => ctx.out().array(0),
        }
        return Ok(());
    };
    if a.count != 0 && a.sort == Sort::None && !a.any {
        a.sort = Sort::Asc;
    }
    let s = Search {
        lon,
        lat,
        shape,
        conversion,
    };
    let limit = if a.any { a.count as usize } else { 0 };
    let mut points = points_within(z, &s, limit);
    if points.is_empty() && a.store_key.is_none() {
        ctx.out().array(0);
        return Ok(());
    }
    match a.sort {
        Sort::Asc => points.sort_by(|x, y| x.dist.total_cmp(&y.dist)),
        Sort::Desc => points.sort_by(|x, y| y.dist.total_cmp(&x.dist)),
        Sort::None => {}
    }
    let returned = if a.count == 0 {
        points.len()
    } else {
        points.len().min(a.count as usize)
    };
    points.truncate(returned);
    for p in &mut points {
        p.dist /= conversion;
    }
    if let Some(dst) = a.store_key {
        if points.is_empty() {
            zsets::store_empty(ctx, dst);
            return Ok(());
        }
        let mut entries: Vec<(Vec<u8>, f64)> = points
            .into_iter()
            .map(|p| (p.member, if a.storedist { p.dist } else { p.score }))
            .collect();
        entries.sort_by(|x, y| x.1.total_cmp(&y.1).then_with(|| x.0.cmp(&y.0)));
        entries.dedup_by(|x, y| x.0 == y.0);
        let event = if search {
            "geosearchstore"
        } else {
            "georadiusstore"
        };
        zsets::store_result(ctx, dst, ZSet::from_sorted(&entries, lim), event);
        return Ok(());
    }
    let options = usize::from(a.withdist) + usize::from(a.withhash) + usize::from(a.withcoord);
    let out = ctx.out();
    out.array(points.len());
    for p in &points {
        if options > 0 {
            out.array(options + 1);
        }
        out.bulk(&p.member);
        if a.withdist {
            push_distance(out, p.dist);
        }
        if a.withhash {
            out.int(p.score as i64);
        }
        if a.withcoord {
            out.array(2);
            out.human_long_double(p.lon);
            out.human_long_double(p.lat);
        }
    }
    Ok(())
}

pub fn georadius(ctx: &mut Ctx) -> CmdResult {
    search_generic(ctx, 1, Form::RadiusCoords { store: true })
}

pub fn georadius_ro(ctx: &mut Ctx) -> CmdResult {
    search_generic(ctx, 1, Form::RadiusCoords { store: false })
}

pub fn georadiusbymember(ctx: &mut Ctx) -> CmdResult {
    search_generic(ctx, 1, Form::RadiusMember { store: true })
}

pub fn georadiusbymember_ro(ctx: &mut Ctx) -> CmdResult {
    search_generic(ctx, 1, Form::RadiusMember { store: false })
}

pub fn geosearch(ctx: &mut Ctx) -> CmdResult {
    search_generic(ctx, 1, Form::Search { store: false })
}

pub fn geosearchstore(ctx: &mut Ctx) -> CmdResult {
    search_generic(ctx, 2, Form::Search { store: true })
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::GEOADD, geoadd),
    (&m::GEOHASH, geohash),
    (&m::GEOPOS, geopos),
    (&m::GEODIST, geodist),
    (&m::GEORADIUS, georadius),
    (&m::GEORADIUS_RO, georadius_ro),
    (&m::GEORADIUSBYMEMBER, georadiusbymember),
    (&m::GEORADIUSBYMEMBER_RO, georadiusbymember_ro),
    (&m::GEOSEARCH, geosearch),
    (&m::GEOSEARCHSTORE, geosearchstore),
];
