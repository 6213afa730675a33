/*
 * trilat common operating picture: a static page on the node's public REST/SSE API.
 *
 * Invariants:
 * - The page shows exactly what the API returns for the signed-in user; it never decides
 *   releasability and never re-derives a marking: labels are shown as the API wrote them.
 * - The bearer token lives in sessionStorage (this tab only) and in Authorization headers;
 *   never in a URL, the document, a cookie, localStorage or a log line.
 * - Every item string reaches the page as text (textContent, attributes), never as HTML.
 * - Memory is bounded: at most MAX_ITEMS items and MAX_TRACKS tracks are kept.
 */
'use strict';

(() => {
  const API = '/api/v1';
  const TOKEN_KEY = 'trilat.token';
  const PAGE_SIZE = 200;
  const MAX_PAGES = 50;            // the stream catches up whatever the first pages leave
  const MAX_ITEMS = 5000;          // non-track items kept, oldest evicted first
  const MAX_TRACKS = 5000;         // tracks kept (one per uid)
  const LIST_ROWS = 300;           // rows drawn in the side list
  const ROLLUP_DEBOUNCE_MS = 250;  // the label set must be still this long before a roll-up
  const ROLLUP_MAX_LABELS = 2000;  // what POST /labels/rollup accepts at once
  const LABEL_LIMIT = 150;         // callsign labels only while at most this many tracks are in view
  const STALL_MS = 45000;          // no byte for this long (keepalives come every 15 s): reconnect
  const MAX_BACKOFF_MS = 30000;
  const WARNING_MS = 30 * 60000;   // missile events this recent raise the warning bar on load
  const ITEM_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  // The four classification words of the API's banners, lowest first (US colours).
  const LEVELS = ['UNCLASSIFIED', 'CONFIDENTIAL', 'SECRET', 'TOP SECRET'];
  const LEVEL_CSS = ['cls-u', 'cls-c', 'cls-s', 'cls-ts'];

  const CATEGORIES = [
    ['track', 'Tracks', '#4fc3f7'],
    ['missile_event', 'Missile events', '#ff5252'],
    ['encounter', 'Encounters', '#ffab40'],
    ['loitering', 'Loitering', '#ce93d8'],
    ['ais_gap', 'AIS gaps', '#ffee58'],
    ['zone_entry', 'Zone entries', '#f5c97a'],
    ['joint_patrol', 'Joint patrols', '#ff80ab'],
    ['other', 'Other items', '#b0bec5'],
  ];
  const CATEGORY_NAME = Object.fromEntries(CATEGORIES.map(([key, name]) => [key, name]));
  const CATEGORY_COLOUR = Object.fromEntries(CATEGORIES.map(([key, , colour]) => [key, colour]));
  const AFFILIATION = {
    f: ['friend', '#4fc3f7'], a: ['assumed friend', '#4fc3f7'], h: ['hostile', '#ff5252'],
    s: ['suspect', '#ff8a65'], j: ['joker', '#ff8a65'], k: ['faker', '#ff8a65'],
    n: ['neutral', '#69f0ae'], u: ['unknown', '#ffee58'], p: ['pending', '#ffee58'],
    o: ['none', '#b0bec5'],
  };
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  const $ = (id) => document.getElementById(id);
  const HAVE_MAP = typeof window.L !== 'undefined';

  const state = {
    token: null,
    generation: 0,        // bumped on sign-in/out and reload: stale async work stops
    cursor: '',           // the last event id (or page cursor) seen: where a stream resumes
    retryMs: 2000,        // the server's `retry:` field
    controller: null,
    items: new Map(),     // item id → entry (insertion order = arrival order)
    tracks: new Map(),    // track uid → entry
    hidden: new Set(),    // categories switched off
    topic: '',
    labels: true,         // callsign labels beside track symbols (the user's choice)
    labelling: false,     // labels are drawn now (chosen, and few enough tracks in view)
    renderPending: false,
    expanded: new Set(),  // ids of list rows opened in place (items with no map symbol)
    alerted: null,        // the entry of the missile warning on show
    reloaded: 0,          // when a refused cursor last made the page load afresh
    rollup: freshRollup(), // the node's roll-up of the labels on screen (see renderBanner)
  };

  function freshRollup() {
    return { key: null, wanted: null, banner: null, failed: false, timer: null };
  }

  // ----- text helpers ---------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (key === 'class') node.className = value;
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function pad(n) { return String(n).padStart(2, '0'); }

  function parseTime(text) {
    const time = typeof text === 'string' ? Date.parse(text) : NaN;
    return Number.isFinite(time) ? time : null;
  }

  function formatTime(text, withDate = true) {
    const time = parseTime(text);
    if (time === null) return '—';
    const d = new Date(time);
    const clock = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
    if (!withDate) return clock;
    return `${pad(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${clock}`;
  }

  function shortTime(ms) {
    const d = new Date(ms);
    const now = new Date();
    const clock = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}Z`;
    if (d.toISOString().slice(0, 10) === now.toISOString().slice(0, 10)) return clock;
    return `${pad(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${clock}`;
  }

  function age(ms) {
    const seconds = Math.round((Date.now() - ms) / 1000);
    if (seconds < 0) return 'in the future';
    if (seconds < 90) return `${seconds} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} days ago`;
  }

  function number(value, digits, unit) {
    return typeof value === 'number' && Number.isFinite(value) ? `${value.toFixed(digits)}${unit}` : null;
  }

  function position(lat, lon) {
    if (typeof lat !== 'number' || typeof lon !== 'number') return null;
    return `${Math.abs(lat).toFixed(4)}°${lat >= 0 ? 'N' : 'S'} ${Math.abs(lon).toFixed(4)}°${lon >= 0 ? 'E' : 'W'}`;
  }

  function validPoint(point) {
    return point && typeof point.lat === 'number' && typeof point.lon === 'number'
      && Math.abs(point.lat) <= 90 && Math.abs(point.lon) <= 180;
  }

  // ----- labels: shown as the API wrote them ------------------------------------------------
  /** The classification word of a banner (the text before the first "//") and its rank;
   * a word outside the four known ones ranks above them all (fail closed). */
  function level(label) {
    const word = String(label || '').split('//')[0].trim().toUpperCase();
    const rank = LEVELS.indexOf(word);
    return { word: word || 'UNMARKED', rank: rank < 0 ? LEVELS.length : rank };
  }

  function levelClass(rank) { return LEVEL_CSS[rank] || 'cls-x'; }

  function mark(label) {
    return el('span', { class: `mark ${levelClass(level(label).rank)}` }, String(label || 'UNMARKED'));
  }

  // ----- what an item is and where --------------------------------------------------------
  function isJointPatrol(doc) {
    const body = doc.body || {};
    if (body.type === 'joint_patrol') return true;
    if (body.attributes && body.attributes.type === 'joint_patrol') return true;
    return (doc.topics || []).some((topic) => topic.split('.').includes('joint_patrol'));
  }

  function categoryOf(doc) {
    if (doc.kind in CATEGORY_NAME && doc.kind !== 'other') return doc.kind;
    return isJointPatrol(doc) ? 'joint_patrol' : 'other';
  }

  /** The time an item is about: a track's fix, an event's start, else its creation. */
  function timeOf(doc) {
    const body = doc.body || {};
    const own = body.time || body.start || body.launch_time || body.observed;
    return parseTime(own) ?? parseTime(doc.created) ?? Date.now();
  }

  function pointOf(doc) {
    const body = doc.body || {};
    for (const key of ['point', 'launch_point', 'impact_point']) {
      if (validPoint(body[key])) return body[key];
    }
    if (typeof body.lat === 'number' && typeof body.lon === 'number') return { lat: body.lat, lon: body.lon };
    return null;
  }

  function mmsiOf(body) {
    if (typeof body.uid === 'string' && /^mmsi-\d{9}$/.test(body.uid)) return body.uid.slice(5);
    return null;
  }

  function titleOf(doc) {
    const body = doc.body || {};
    switch (doc.kind) {
      case 'track': {
        const mmsi = mmsiOf(body);
        const name = body.callsign || (mmsi ? `MMSI ${mmsi}` : body.uid);
        return `${name || 'track'}${body.nation ? ` (${body.nation})` : ''}`;
      }
      case 'missile_event':
        return `Launch${body.missile_type ? ` of ${body.missile_type}` : ''} at ${formatTime(body.launch_time, false)}`;
      case 'encounter':
        return `Encounter ${(body.vessels || []).join(' / ')}`;
      case 'loitering':
        return `Loitering MMSI ${body.mmsi}`;
      case 'ais_gap':
        return `AIS gap MMSI ${body.mmsi}, ${number(body.hours, 1, ' h') || ''}`;
      case 'zone_entry':
        return `${body.zone} ${body.type === 'zone_exit' ? 'exit' : 'entry'}: ${body.track}`;
      case 'recall':
        return `Recall of item ${body.item} (${body.reason})`;
      default:
        if (isJointPatrol(doc)) {
          const tracks = body.tracks || (body.attributes && body.attributes.tracks);
          return `Joint patrol${Array.isArray(tracks) ? `: ${tracks.join(', ')}` : ''}`;
        }
        return body.title || body.need || body.offer || body.question || body.text || doc.kind;
    }
  }

  function isStale(entry) {
    if (entry.doc.kind !== 'track') return false;
    const stale = parseTime(entry.doc.body.stale);
    return stale !== null && stale <= Date.now();
  }

  // ----- popups (DOM, never HTML strings) ----------------------------------------------------
  function details(rows) {
    const list = el('dl');
    for (const [name, value] of rows) {
      if (value === null || value === undefined || value === '') continue;
      list.append(el('dt', null, name), el('dd', null, value));
    }
    return list;
  }

  function popupFor(entry) {
    const { doc } = entry;
    const body = doc.body || {};
    const rows = [];
    switch (doc.kind) {
      case 'track': {
        const affiliation = AFFILIATION[String(body.type || '').split('-')[1]];
        const fix = parseTime(body.time);
        rows.push(
          ['Callsign', body.callsign], ['MMSI', mmsiOf(body)], ['UID', body.uid],
          ['Type', `${body.type}${affiliation ? ` (${affiliation[0]})` : ''}`],
          ['Flag / nation', body.nation], ['Position', position(body.point.lat, body.point.lon)],
          ['Altitude', number(body.point.alt_m, 0, ' m')],
          ['Heading', number(body.heading, 0, '°')], ['Course', number(body.course, 0, '°')],
          ['Speed', number(body.speed, 1, ' kn')],
          ['Last update', fix === null ? '—' : `${formatTime(body.time)} (${age(fix)})`],
          ['Stale at', `${formatTime(body.stale)}${isStale(entry) ? ' — STALE' : ''}`],
        );
        break;
      }
      case 'missile_event': {
        const launch = body.launch_point || {};
        const impact = body.impact_point || {};
        rows.push(
          ['Launch time', formatTime(body.launch_time)],
          ['Launch point', position(launch.lat, launch.lon)],
          ['Impact point', validPoint(impact) ? position(impact.lat, impact.lon) : null],
          ['Impact time', body.impact_time ? formatTime(body.impact_time) : null],
          ['Impact uncertainty', uncertainty(impact, body.impact_covariance_m2)],
          ['Apogee', number(body.apogee_km, 0, ' km')], ['Missile', body.missile_type],
          ['Sensor', body.source_sensor], ['Source nation', body.source_nation],
          ['Fused from', Array.isArray(body.sources) && body.sources.length
            ? body.sources.map((s) => `${s.nation} ${s.sensor}`).join(', ') : null],
          ['Impact in EEZ of', body.impact_eez
            ? Object.entries(body.impact_eez).map(([view, nation]) => `${nation || 'none'} (${view} view)`).join(', ')
            : null],
        );
        break;
      }
      case 'encounter':
        rows.push(
          ['Vessels (MMSI)', (body.vessels || []).join(', ')],
          ['From', formatTime(body.start)], ['To', formatTime(body.end)],
          ['Median distance', number(body.median_distance_km, 2, ' km')],
          ['Median speed', number(body.median_speed_knots, 1, ' kn')],
          ['Position', position(body.lat, body.lon)],
        );
        break;
      case 'loitering':
        rows.push(['MMSI', body.mmsi], ['From', formatTime(body.start)], ['To', formatTime(body.end)],
          ['Position', position(body.lat, body.lon)]);
        break;
      case 'ais_gap':
        rows.push(['MMSI', body.mmsi], ['Silent from', formatTime(body.start)],
          ['Silent to', formatTime(body.end)], ['Duration', number(body.hours, 1, ' h')],
          ['Possible disabling', body.possible_disabling ? 'yes' : 'no'],
          ['Position', position(body.lat, body.lon)]);
        break;
      case 'zone_entry':
        rows.push(['Event', body.type === 'zone_exit' ? 'exit' : 'entry'], ['Zone', body.zone],
          ['Authority', body.authority], ['Track', body.track], ['Time', formatTime(body.time)],
          ['Position', position(body.lat, body.lon)]);
        break;
      default: {
        const point = pointOf(doc);
        rows.push(['Position', point ? position(point.lat, point.lon) : null]);
      }
    }
    const text = doc.kind === 'track' ? null : (body.text || body.question || null);
    return el('div', { class: 'pop', 'data-item': doc.id },
      mark(doc.label),
      el('h3', null, titleOf(doc)),
      details(rows),
      text && el('p', null, text),
      details([
        ['Kind', doc.kind], ['Originator', `${doc.originator.nation} (${doc.originator.node})`],
        ['Created', formatTime(doc.created)], ['Topics', (doc.topics || []).join(', ')],
        ['Item', doc.id],
      ]),
    );
  }

  function uncertainty(point, covariance) {
    const radius = radiusOf(point, covariance);
    if (radius === null) return null;
    const basis = point && point.error_radius_m > 0 ? 'error radius' : '95 % circle';
    return `${(radius / 1000).toFixed(1)} km (${basis})`;
  }

  /** The radius (m) of a 95 % circle: a point's error radius, else from a [ee, en, nn]
   * covariance, the larger axis of its 95 % ellipse (chi-square 2 dof: 2.4477 sigma). */
  function radiusOf(point, covariance) {
    if (point && typeof point.error_radius_m === 'number' && point.error_radius_m > 0) {
      return point.error_radius_m;
    }
    if (Array.isArray(covariance) && covariance.length === 3 && covariance.every(Number.isFinite)) {
      const [ee, en, nn] = covariance;
      const largest = (ee + nn) / 2 + Math.sqrt(((ee - nn) / 2) ** 2 + en ** 2);
      if (largest > 0) return 2.4477 * Math.sqrt(largest);
    }
    return null;
  }

  // ----- map ---------------------------------------------------------------------------------
  let map = null;
  const itemLayer = HAVE_MAP ? L.featureGroup() : null;

  function svgIcon(entry, svg, size, extraClass) {
    const kind = entry.cat;
    const id = ITEM_ID.test(entry.doc.id) ? entry.doc.id : '';
    const half = size / 2;
    return L.divIcon({
      className: `sym sym-${kind}${extraClass ? ` ${extraClass}` : ''}`,
      iconSize: [size, size],
      iconAnchor: [half, half],
      popupAnchor: [0, -half],
      html: `<svg data-kind="${kind}" data-item="${id}" width="${size}" height="${size}" `
        + `viewBox="${-half} ${-half} ${size} ${size}" aria-hidden="true">${svg}</svg>`,
    });
  }

  function trackIcon(entry) {
    const body = entry.doc.body;
    const parts = String(body.type || '').split('-');
    const colour = (AFFILIATION[parts[1]] || AFFILIATION.u)[1];
    const air = parts[2] === 'A';
    const direction = [body.heading, body.course].find((v) => typeof v === 'number' && Number.isFinite(v));
    let shape;
    if (direction === undefined) {
      shape = air
        ? `<rect x="-6" y="-6" width="12" height="12" transform="rotate(45)" fill="${colour}" stroke="#000" stroke-width="1.5"/>`
        : `<circle r="6" fill="${colour}" stroke="#000" stroke-width="1.5"/>`;
    } else {
      const path = air ? 'M0,-11 L3,-2 L10,3 L10,5 L2,3 L1,8 L4,10 L-4,10 L-1,8 L-2,3 L-10,5 L-10,3 L-3,-2 Z'
        : 'M0,-11 L7,9 L0,5 L-7,9 Z';
      shape = `<g transform="rotate(${direction.toFixed(1)})"><path d="${path}" fill="${colour}" `
        + 'stroke="#000" stroke-width="1.5" stroke-linejoin="round"/></g>';
    }
    return svgIcon(entry, shape, 24, isStale(entry) ? 'stale' : '');
  }

  const EVENT_SHAPES = {
    encounter: (c) => `<circle cx="-4" r="6" fill="none" stroke="${c}" stroke-width="2.5"/>`
      + `<circle cx="4" r="6" fill="none" stroke="${c}" stroke-width="2.5"/>`,
    loitering: (c) => `<circle r="8" fill="none" stroke="${c}" stroke-width="2.5" stroke-dasharray="10 4"/>`
      + `<circle r="2.5" fill="${c}"/>`,
    ais_gap: (c) => `<circle r="8" fill="#10161d" stroke="${c}" stroke-width="2.5"/>`
      + `<path d="M-6,6 L6,-6" stroke="${c}" stroke-width="2.5"/>`,
    zone_entry: (c) => `<path d="M0,-9 L9,0 L0,9 L-9,0 Z" fill="#10161d" stroke="${c}" stroke-width="2.5"/>`
      + `<path d="M-4,0 L4,0 M1,-3 L4,0 L1,3" stroke="${c}" stroke-width="2" fill="none"/>`,
    joint_patrol: (c) => `<circle cx="-5" cy="3" r="3.5" fill="${c}"/><circle cx="5" cy="3" r="3.5" fill="${c}"/>`
      + `<path d="M-5,3 L0,-7 L5,3" stroke="${c}" stroke-width="2" fill="none"/>`,
    other: (c) => `<rect x="-6" y="-6" width="12" height="12" fill="#10161d" stroke="${c}" stroke-width="2.5"/>`,
  };

  function missileLayer(entry) {
    const body = entry.doc.body;
    const colour = CATEGORY_COLOUR.missile_event;
    const group = L.featureGroup();
    const launch = body.launch_point;
    const path = [[launch.lat, launch.lon]];
    for (const point of body.flight_path || []) if (validPoint(point)) path.push([point.lat, point.lon]);
    const launchMarker = L.marker([launch.lat, launch.lon], {
      icon: svgIcon(entry, `<path d="M0,-10 L9,7 L-9,7 Z" fill="${colour}" stroke="#000" stroke-width="1.5"/>`, 22),
      title: `Missile launch ${formatTime(body.launch_time, false)}`,
      keyboard: true,
    });
    group.addLayer(launchMarker);
    const launchRadius = radiusOf(launch, body.launch_covariance_m2);
    if (launchRadius) {
      group.addLayer(L.circle([launch.lat, launch.lon], { radius: launchRadius, color: colour, weight: 1, fillOpacity: 0.08, dashArray: '4 4' }));
    }
    if (validPoint(body.impact_point)) {
      const impact = body.impact_point;
      path.push([impact.lat, impact.lon]);
      const radius = radiusOf(impact, body.impact_covariance_m2);
      if (radius) {
        group.addLayer(L.circle([impact.lat, impact.lon], { radius, color: colour, weight: 1.5, fillOpacity: 0.12, dashArray: '6 4' }));
      }
      group.addLayer(L.marker([impact.lat, impact.lon], {
        icon: L.divIcon({
          className: 'sym sym-impact',
          iconSize: [22, 22],
          iconAnchor: [11, 11],
          html: '<svg data-kind="missile_impact" width="22" height="22" viewBox="-11 -11 22 22" aria-hidden="true">'
            + `<circle r="8" fill="#10161d" stroke="${colour}" stroke-width="2"/>`
            + `<path d="M-5,-5 L5,5 M5,-5 L-5,5" stroke="${colour}" stroke-width="2.5"/></svg>`,
        }),
        title: 'Missile impact point',
        keyboard: true,
      }));
    }
    if (path.length > 1) {
      group.addLayer(L.polyline(path, { color: colour, weight: 2.5, dashArray: '8 6', opacity: 0.9 }));
    }
    return group;
  }

  function geometryLayer(entry, geometry) {
    const colour = CATEGORY_COLOUR[entry.cat];
    return L.geoJSON({ type: 'Feature', properties: {}, geometry }, {
      style: { color: colour, weight: 2, fillOpacity: 0.1 },
      pointToLayer: (_, latlng) => L.marker(latlng, { icon: svgIcon(entry, EVENT_SHAPES.other(colour), 20), keyboard: true }),
    });
  }

  function layerFor(entry) {
    if (!HAVE_MAP) return null;
    const { doc } = entry;
    const body = doc.body || {};
    let layer = null;
    if (doc.kind === 'track' && validPoint(body.point)) {
      layer = L.marker([body.point.lat, body.point.lon], { icon: trackIcon(entry), keyboard: true, title: titleOf(doc) });
    } else if (doc.kind === 'missile_event' && validPoint(body.launch_point)) {
      layer = missileLayer(entry);
    } else if (body.geometry && typeof body.geometry === 'object' && body.geometry.type) {
      try { layer = geometryLayer(entry, body.geometry); } catch (error) { layer = null; }
    } else {
      const point = pointOf(doc);
      if (point) {
        const shape = EVENT_SHAPES[entry.cat] || EVENT_SHAPES.other;
        layer = L.marker([point.lat, point.lon], {
          icon: svgIcon(entry, shape(CATEGORY_COLOUR[entry.cat]), 22),
          keyboard: true,
          title: titleOf(doc),
        });
      }
    }
    if (layer) {
      // the popup and tooltip read the layer's current entry: a track's marker is reused
      layer.trilatEntry = entry;
      layer.bindPopup(() => popupFor(layer.trilatEntry), { maxWidth: 360 });
      bindTooltip(layer);
    }
    return layer;
  }

  function trackLabel(doc) {
    const mmsi = mmsiOf(doc.body);
    return doc.body.callsign || (mmsi ? mmsi : doc.body.uid);
  }

  /** A hover tooltip with the item's title; for tracks a permanent callsign label instead
   * while labels are switched on. */
  function bindTooltip(layer) {
    layer.unbindTooltip();
    const track = layer.trilatEntry.doc.kind === 'track';
    if (track && state.labelling) {
      layer.bindTooltip(() => el('span', null, trackLabel(layer.trilatEntry.doc)), {
        permanent: true, direction: 'right', offset: [12, 0], className: 'trk-label',
      });
    } else {
      layer.bindTooltip(() => el('span', null, titleOf(layer.trilatEntry.doc)), { direction: 'top', offset: [0, -10] });
    }
  }

  function centreOf(entry) {
    if (!entry.layer) return null;
    if (entry.layer.getLatLng) return entry.layer.getLatLng();
    if (entry.doc.kind === 'missile_event') {
      const p = entry.doc.body.launch_point;
      return L.latLng(p.lat, p.lon);
    }
    const bounds = entry.layer.getBounds && entry.layer.getBounds();
    return bounds && bounds.isValid() ? bounds.getCenter() : null;
  }

  function openOnMap(entry) {
    const centre = centreOf(entry);
    if (!map || !centre) return;
    map.setView(centre, Math.max(map.getZoom(), 6));
    if (entry.layer.openPopup) entry.layer.openPopup(centre);
  }

  function setupMap() {
    if (!HAVE_MAP) {
      const error = $('map-error');
      error.textContent = 'The map library is not installed on this node (run `make web`, which runs '
        + '`npm ci` in src/trilat/web). Items are still listed at the side.';
      error.hidden = false;
      return;
    }
    // no fade: a recalled or filtered item leaves the screen at once
    map = L.map('map', { zoomSnap: 0.5, minZoom: 3, maxZoom: 13, worldCopyJump: false, fadeAnimation: false });
    map.fitBounds([[27, 119], [46, 146]]);
    map.attributionControl.setPrefix('Leaflet');
    map.attributionControl.addAttribution('© OpenStreetMap contributors, ODbL');
    L.control.scale({ imperial: false, position: 'bottomleft' }).addTo(map);
    const canvas = L.canvas({ padding: 0.3 });
    const sea = L.layerGroup().addTo(map);
    const land = L.layerGroup().addTo(map);
    const zones = L.layerGroup().addTo(map);
    const places = L.layerGroup().addTo(map);
    itemLayer.addTo(map);
    map.on('moveend', relabel);
    L.control.layers(null, {
      'Territorial seas': sea, 'ADIZ outlines': zones, 'Places': places,
    }, { collapsed: true }).addTo(map);

    loadGeo('territory-ne-asia.geojson', (data) => {
      const features = data.features || [];
      L.geoJSON({ type: 'FeatureCollection', features: features.filter((f) => f.properties.kind === 'maritime') }, {
        renderer: canvas, interactive: false,
        style: { color: '#2f5573', weight: 0.8, fillColor: '#15314a', fillOpacity: 1 },
      }).addTo(sea);
      L.geoJSON({ type: 'FeatureCollection', features: features.filter((f) => f.properties.kind === 'land') }, {
        renderer: canvas, interactive: false,
        style: { stroke: false, fillColor: '#2a3440', fillOpacity: 1 },
      }).addTo(land);
    });
    loadGeo('adiz.geojson', (data) => {
      const colours = { KADIZ: '#7cc4ff', JADIZ: '#f5c97a', CADIZ: '#ff8a80' };
      for (const feature of data.features || []) {
        const props = feature.properties || {};
        const layer = L.geoJSON(feature, {
          interactive: false,
          style: { color: colours[props.id] || '#f5c97a', weight: 1.6, fill: false, dashArray: props.complete ? null : '7 6' },
        }).addTo(zones);
        const bounds = layer.getBounds();
        const anchor = props.id === 'JADIZ' ? L.latLng(38.6, 136.0) : bounds.getCenter();
        L.tooltip({ permanent: true, direction: 'center', className: 'zone-label', interactive: false })
          .setLatLng(anchor)
          .setContent(el('span', { 'data-zone': props.id }, props.id || ''))
          .addTo(zones);
      }
    });
    loadGeo('features.geojson', (data) => {
      for (const feature of data.features || []) {
        const [lon, lat] = (feature.geometry && feature.geometry.coordinates) || [];
        if (typeof lat !== 'number' || feature.geometry.type !== 'Point') continue;
        L.circleMarker([lat, lon], { renderer: canvas, radius: 3, color: '#c9d4de', weight: 1, fillOpacity: 0 })
          .bindTooltip(() => el('span', null, feature.properties.name || ''), { direction: 'top' })
          .addTo(places);
      }
    });
  }

  async function loadGeo(name, draw) {
    try {
      const response = await fetch(`/geo/${name}`, { credentials: 'omit' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      draw(await response.json());
    } catch (error) {
      const box = $('map-error');
      box.textContent = `Base map layer ${name} could not be loaded (${error.message}).`;
      box.hidden = false;
    }
  }

  // ----- the item store --------------------------------------------------------------------
  function passes(entry) {
    if (state.hidden.has(entry.cat)) return false;
    const prefix = state.topic;
    if (!prefix) return true;
    return (entry.doc.topics || []).some((topic) => topic === prefix || topic.startsWith(`${prefix}.`));
  }

  function show(entry) {
    const shown = passes(entry);
    entry.shown = shown;
    if (!entry.layer || !itemLayer) return;
    if (shown && !itemLayer.hasLayer(entry.layer)) itemLayer.addLayer(entry.layer);
    if (!shown && itemLayer.hasLayer(entry.layer)) itemLayer.removeLayer(entry.layer);
  }

  function drop(id) {
    const entry = state.items.get(id);
    if (!entry) return;
    state.items.delete(id);
    if (entry.doc.kind === 'track' && state.tracks.get(entry.doc.body.uid) === entry) {
      state.tracks.delete(entry.doc.body.uid);
    }
    if (entry.layer && itemLayer) itemLayer.removeLayer(entry.layer);
    state.expanded.delete(id);
    if (state.alerted === entry) unwarn();
  }

  function accept(doc, live = false) {
    if (!doc || typeof doc.id !== 'string' || typeof doc.kind !== 'string' || !doc.originator) return;
    if (state.items.has(doc.id)) return;
    doc.body = doc.body || {};
    if (doc.kind === 'recall' && typeof doc.body.item === 'string') drop(doc.body.item);
    if (typeof doc.supersedes === 'string') drop(doc.supersedes);
    const entry = { doc, cat: categoryOf(doc), when: timeOf(doc), layer: null, shown: false, stale: false };
    if (doc.kind === 'track') {
      const uid = doc.body.uid;
      const previous = state.tracks.get(uid);
      if (previous && previous.when > entry.when) return;   // an older fix arriving late
      if (previous) {
        drop(previous.doc.id);
        if (previous.layer && previous.layer.setLatLng && validPoint(doc.body.point)) {
          entry.layer = previous.layer;   // move the marker rather than redraw it
          entry.layer.trilatEntry = entry;
          entry.layer.setLatLng([doc.body.point.lat, doc.body.point.lon]);
          entry.stale = isStale(entry);
          entry.layer.setIcon(trackIcon(entry));
          if (entry.layer.isPopupOpen()) entry.layer.getPopup().setContent(popupFor(entry));
          const tooltip = entry.layer.getTooltip();
          if (tooltip && tooltip.isOpen()) tooltip.update();
        }
      }
      state.tracks.set(uid, entry);
      if (state.tracks.size > MAX_TRACKS) drop(state.tracks.values().next().value.doc.id);
    }
    entry.stale = isStale(entry);
    if (!entry.layer) entry.layer = layerFor(entry);
    state.items.set(doc.id, entry);
    if (state.items.size > MAX_ITEMS + MAX_TRACKS) {
      for (const [id, old] of state.items) {
        if (old.doc.kind !== 'track') { drop(id); break; }
      }
    }
    entry.fresh = live;
    entry.arrived = Date.now();
    show(entry);
    if (entry.cat === 'missile_event' && entry.shown && validPoint(doc.body.launch_point)) {
      const created = parseTime(doc.created) ?? 0;
      const newest = !state.alerted || created >= (parseTime(state.alerted.doc.created) ?? 0);
      if (newest && (live || Date.now() - created < WARNING_MS)) warn(entry);
    }
    scheduleRender();
  }

  /** A missile event that arrives live, or was issued in the last WARNING_MS, raises the
   * warning bar (with its label); a newer one replaces it. */
  function warn(entry) {
    state.alerted = entry;
    const body = entry.doc.body;
    const impact = validPoint(body.impact_point)
      ? `, impact ${position(body.impact_point.lat, body.impact_point.lon)}` : '';
    $('alert-text').replaceChildren(
      mark(entry.doc.label),
      el('span', null, `${titleOf(entry.doc)} from ${position(body.launch_point.lat, body.launch_point.lon)}${impact}`
        + ` (reported by ${entry.doc.originator.nation})`),
    );
    $('alert').hidden = false;
  }

  function unwarn() {
    state.alerted = null;
    $('alert').hidden = true;
    $('alert-text').replaceChildren();
  }

  function clearItems() {
    if (itemLayer) itemLayer.clearLayers();
    state.items.clear();
    state.tracks.clear();
    state.expanded.clear();
    unwarn();
    scheduleRender();
  }

  // ----- list, banner and filters ------------------------------------------------------------
  function scheduleRender() {
    if (state.renderPending) return;
    state.renderPending = true;
    setTimeout(() => { state.renderPending = false; render(); }, 80);
  }

  function render() {
    relabel();
    const shown = [];
    for (const entry of state.items.values()) if (entry.shown) shown.push(entry);
    renderBanner(shown);
    shown.sort((a, b) => b.when - a.when);
    const list = $('items');
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.item : null;
    const rows = shown.slice(0, LIST_ROWS).map((entry) => {
      const { doc } = entry;
      const row = el('button', {
        type: 'button',
        class: `item-row${entry.stale ? ' stale' : ''}${entry.fresh ? ' fresh' : ''}`,
        'data-item': doc.id,
        'data-kind': entry.cat,
        'aria-label': `${doc.kind}, ${titleOf(doc)}, ${doc.label}, from ${doc.originator.nation}`,
      },
      el('span', { class: 'item-kind' }, el('span', { class: 'swatch', 'data-colour': entry.cat }), ` ${doc.kind.replaceAll('_', ' ')}`),
      el('span', { class: 'item-time' }, shortTime(entry.when)),
      el('span', { class: 'item-nation' }, doc.originator.nation),
      el('span', { class: 'item-title' }, titleOf(doc)),
      mark(doc.label));
      row.addEventListener('click', () => {
        if (entry.layer) openOnMap(entry);
        else toggleInline(row, entry);
      });
      if (!entry.layer) row.setAttribute('aria-expanded', String(state.expanded.has(doc.id)));
      return el('li', null, row, state.expanded.has(doc.id) ? popupFor(entry) : null);
    });
    list.replaceChildren(...rows);
    if (focused) {
      // new items re-draw the list: keep a keyboard user's place in it
      const again = list.querySelector(`.item-row[data-item="${ITEM_ID.test(focused) ? focused : ''}"]`);
      if (again) again.focus({ preventScroll: true });
    }
    paintSwatches(list);
    $('item-count').textContent = shown.length > LIST_ROWS
      ? `(${LIST_ROWS} of ${shown.length})` : `(${shown.length})`;
  }

  function toggleInline(row, entry) {
    const id = entry.doc.id;
    const next = row.nextElementSibling;
    if (state.expanded.delete(id)) {
      if (next && next.classList.contains('pop')) next.remove();
      row.setAttribute('aria-expanded', 'false');
      return;
    }
    state.expanded.add(id);
    row.setAttribute('aria-expanded', 'true');
    row.after(popupFor(entry));
  }

  function paintSwatches(root) {
    // colours through the CSSOM: the page's CSP allows no inline style attributes
    for (const swatch of root.querySelectorAll('.swatch[data-colour]')) {
      swatch.style.background = CATEGORY_COLOUR[swatch.dataset.colour] || '#b0bec5';
    }
  }

  /** The page banner: the roll-up (SPEC §2) of the distinct labels on screen, as the node's
   * `POST /labels/rollup` computes it, asked for once the set of labels has been still for
   * ROLLUP_DEBOUNCE_MS. Until it answers (or if it cannot) the banner shows only the highest
   * classification word, never a release marking of its own making. */
  function renderBanner(shown) {
    let top = null;
    const labels = new Set();
    for (const entry of shown) {
      const label = String(entry.doc.label || 'UNMARKED');
      labels.add(label);
      const found = level(label);
      if (top === null || found.rank > top.rank) top = found;
    }
    const distinct = [...labels].sort();
    const key = distinct.join('\n');
    const roll = state.rollup;
    let text = 'NO ITEMS DISPLAYED';
    let shownLevel = null;
    let status = 'none';
    if (distinct.length && roll.key === key && roll.banner) {
      text = roll.banner;
      shownLevel = level(roll.banner);
      status = 'done';
    } else if (distinct.length) {
      text = top.word;
      shownLevel = top;
      status = roll.key === key && roll.failed ? 'failed' : 'pending';
      if (status === 'pending') requestRollup(key, distinct);
    }
    const css = shownLevel ? levelClass(shownLevel.rank) : 'cls-none';
    const count = `${shown.length} item${shown.length === 1 ? '' : 's'} displayed`;
    const from = `${distinct.length} label${distinct.length === 1 ? '' : 's'}`;
    const detail = !distinct.length
      ? (state.token ? 'nothing on screen' : 'sign in to see items')
      : status === 'done' ? `${count} · banner rolled up from ${from}`
        : status === 'failed' ? `${count} · roll-up unavailable: highest level of ${from} shown`
          : `${count} · rolling up ${from}…`;
    for (const [bannerId, wordId] of [['banner-top', 'banner-word'], ['banner-bottom', 'banner-word-bottom']]) {
      const banner = $(bannerId);
      banner.className = `banner ${css}`;
      banner.dataset.level = shownLevel ? shownLevel.word : 'NONE';
      banner.dataset.rollup = status;
      // only on change: the top word is a live region that screen readers announce
      if ($(wordId).textContent !== text) $(wordId).textContent = text;
    }
    const detailBox = $('banner-detail');
    if (detailBox.textContent !== detail) detailBox.textContent = detail;
    detailBox.title = distinct.join('\n');
  }

  /** Ask the node to roll *labels* up once they have been still for a moment; the answer
   * is kept for that exact set and drawn by the next render. */
  function requestRollup(key, labels) {
    const roll = state.rollup;
    if (roll.wanted === key) return;   // already waiting for this set
    roll.wanted = key;
    clearTimeout(roll.timer);
    roll.timer = setTimeout(async () => {
      const { generation, token } = state;
      if (!token || roll.wanted !== key) return;
      let answer = null;
      if (labels.length <= ROLLUP_MAX_LABELS) {
        try {
          answer = await apiPost('/labels/rollup', { labels }, token);
        } catch (error) {
          if (error instanceof Refused && generation === state.generation) signOut(error.message);
          answer = null;
        }
      }
      if (generation !== state.generation || roll.wanted !== key) return;
      roll.key = key;
      roll.banner = answer && typeof answer.banner === 'string' ? answer.banner : null;
      roll.failed = roll.banner === null;
      scheduleRender();
    }, ROLLUP_DEBOUNCE_MS);
  }

  function setupFilters() {
    const box = $('kind-filters');
    for (const [key, name] of CATEGORIES) {
      const input = el('input', { type: 'checkbox', id: `kind-${key}`, value: key });
      input.checked = true;
      input.addEventListener('change', () => {
        if (input.checked) state.hidden.delete(key); else state.hidden.add(key);
        refilter();
      });
      box.append(el('label', { for: `kind-${key}` }, input, el('span', { class: 'swatch', 'data-colour': key }), name));
    }
    paintSwatches(box);
    let timer = null;
    $('topic-filter').addEventListener('input', (event) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        state.topic = event.target.value.trim().toLowerCase().replace(/\.+$/, '');
        refilter();
      }, 200);
    });
    $('window').addEventListener('change', () => { if (state.token) start(); });
    $('labels').addEventListener('change', (event) => {
      state.labels = event.target.checked;
      relabel();
    });
  }

  /** Draw callsign labels when chosen and no more than LABEL_LIMIT tracks are in view
   * (beyond that they hide each other and slow the map down). */
  function relabel() {
    if (!map) return;
    let inView = 0;
    if (state.labels) {
      const bounds = map.getBounds();
      for (const entry of state.tracks.values()) {
        if (entry.shown && entry.layer && bounds.contains(entry.layer.getLatLng())) inView += 1;
        if (inView > LABEL_LIMIT) break;
      }
    }
    const labelling = state.labels && inView <= LABEL_LIMIT;
    if (labelling === state.labelling) return;
    state.labelling = labelling;
    for (const entry of state.tracks.values()) if (entry.layer) bindTooltip(entry.layer);
  }

  function refilter() {
    for (const entry of state.items.values()) show(entry);
    scheduleRender();
  }

  function refreshStale() {
    const settled = Date.now() - 60000;
    for (const entry of state.items.values()) {
      if (entry.fresh && entry.arrived < settled) entry.fresh = false;
    }
    for (const entry of state.tracks.values()) {
      const stale = isStale(entry);
      if (stale !== entry.stale) {
        entry.stale = stale;
        if (entry.layer && entry.layer.setIcon) entry.layer.setIcon(trackIcon(entry));
      }
    }
    scheduleRender();
  }

  // ----- talking to the node ------------------------------------------------------------------
  class Refused extends Error {}

  async function apiPost(path, body, token) {
    const response = await fetch(API + path, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: 'application/json',
        'Content-Type': 'application/json',
      },
      body: JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
    if (response.status === 401) throw new Refused('the node refused the token');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }

  async function apiGet(path, token) {
    const response = await fetch(API + path, {
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
    });
    if (response.status === 401) throw new Refused('the node refused the token');
    if (!response.ok) {
      let detail = `HTTP ${response.status}`;
      try { detail = (await response.json()).detail || detail; } catch (error) { /* not JSON */ }
      throw new Error(detail);
    }
    return response.json();
  }

  function setLink(kind, text) {
    const box = $('link-state');
    box.className = `link-state state-${kind}`;
    box.textContent = text;
  }

  function sleep(ms, generation) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      const check = setInterval(() => {
        if (generation !== state.generation) { clearTimeout(timer); clearInterval(check); resolve(); }
      }, 250);
      setTimeout(() => clearInterval(check), ms + 10);
    });
  }

  /** Page through what the user may see (from the chosen window), then follow the stream. */
  async function start() {
    const generation = ++state.generation;
    if (state.controller) state.controller.abort();
    clearItems();
    state.cursor = '';
    setLink('wait', 'Loading…');
    const hours = Number($('window').value);
    const since = hours > 0 ? new Date(Date.now() - hours * 3600e3).toISOString() : null;
    let after = '';
    try {
      for (let page = 0; page < MAX_PAGES; page += 1) {
        const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
        if (after) query.set('after', after);
        if (since) query.set('since', since);
        const result = await apiGet(`/items?${query}`, state.token);
        if (generation !== state.generation) return;
        for (const doc of result.items) accept(doc);
        const progressed = result.next && result.next !== after;
        if (result.next) after = result.next;
        if (!progressed) break;
      }
    } catch (error) {
      if (generation !== state.generation) return;
      if (error instanceof Refused) { signOut('Signed out: the node refused the token.'); return; }
      setLink('down', 'Load failed');
      $('map-error').textContent = `Items could not be loaded: ${error.message}`;
      $('map-error').hidden = false;
    }
    state.cursor = after;
    follow(generation);
  }

  async function follow(generation) {
    let failures = 0;
    while (generation === state.generation) {
      const controller = new AbortController();
      state.controller = controller;
      try {
        const headers = { Authorization: `Bearer ${state.token}`, Accept: 'text/event-stream' };
        if (state.cursor) headers['Last-Event-ID'] = state.cursor;
        const response = await fetch(`${API}/events`, {
          headers, signal: controller.signal, cache: 'no-store', credentials: 'omit',
        });
        if (response.status === 401) { signOut('Signed out: the node refused the token.'); return; }
        if (response.status === 400 && Date.now() - state.reloaded > MAX_BACKOFF_MS) {
          // the node no longer knows our cursor (its store was replaced): load afresh
          state.reloaded = Date.now();
          start();
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        failures = 0;
        setLink('live', 'Live');
        await readStream(response.body, controller, generation);
      } catch (error) {
        // a refused connection, a drop or a stall: retry below
      }
      if (generation !== state.generation) return;
      failures += 1;
      setLink('down', 'Link lost — reconnecting');
      const backoff = Math.min(state.retryMs * 2 ** Math.min(failures - 1, 5), MAX_BACKOFF_MS);
      await sleep(backoff + Math.random() * 250, generation);
    }
  }

  /** Read text/event-stream (WHATWG HTML §9.2) from a fetch body and handle `item` events. */
  async function readStream(body, controller, generation) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let data = [];
    let eventType = '';
    let eventId = null;
    let watchdog = setTimeout(() => controller.abort(), STALL_MS);
    const dispatch = () => {
      if (eventId !== null) state.cursor = eventId;
      if (data.length && (eventType || 'message') === 'item') {
        let doc = null;
        try { doc = JSON.parse(data.join('\n')); } catch (error) { doc = null; }
        if (doc) accept(doc, true);
      }
      data = [];
      eventType = '';
    };
    const line = (text) => {
      if (text === '') { dispatch(); return; }
      if (text.startsWith(':')) return;
      const colon = text.indexOf(':');
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? '' : text.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') eventType = value;
      else if (field === 'id' && !value.includes('\0')) eventId = value;
      else if (field === 'retry' && /^\d+$/.test(value)) state.retryMs = Math.max(500, Number(value));
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        clearTimeout(watchdog);
        if (done || generation !== state.generation) return;
        watchdog = setTimeout(() => controller.abort(), STALL_MS);
        buffer += value;
        for (;;) {
          const end = buffer.search(/\r\n|\r|\n/);
          if (end < 0 || (buffer[end] === '\r' && end === buffer.length - 1)) break;
          const width = buffer.startsWith('\r\n', end) ? 2 : 1;
          line(buffer.slice(0, end));
          buffer = buffer.slice(end + width);
        }
      }
    } finally {
      clearTimeout(watchdog);
      try { reader.cancel(); } catch (error) { /* already closed */ }
    }
  }

  // ----- sign in and out -----------------------------------------------------------------------
  function signedIn(on) {
    $('sign-in-panel').hidden = on;
    $('filters').hidden = !on;
    $('sign-out').hidden = !on;
  }

  function signOut(message) {
    state.generation += 1;
    if (state.controller) state.controller.abort();
    state.token = null;
    clearTimeout(state.rollup.timer);
    state.rollup = freshRollup();
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (error) { /* storage disabled */ }
    clearItems();
    render();   // at once: nothing classified stays on screen after sign-out
    signedIn(false);
    setLink('off', 'Signed out');
    $('sign-in-error').textContent = message || '';
    $('token').focus();
  }

  async function onSignIn(event) {
    event.preventDefault();
    const input = $('token');
    const token = input.value.trim();
    input.value = '';
    const error = $('sign-in-error');
    if (!/^[A-Za-z0-9._~+/=-]{8,512}$/.test(token)) {
      error.textContent = 'That is not a bearer token: paste the token printed by `trilat user add`.';
      return;
    }
    error.textContent = 'Checking…';
    try {
      await apiGet('/items?limit=1', token);
    } catch (failure) {
      error.textContent = failure instanceof Refused
        ? 'The node refused this token.' : `The node could not be reached: ${failure.message}`;
      return;
    }
    error.textContent = '';
    state.token = token;
    try { sessionStorage.setItem(TOKEN_KEY, token); } catch (failure) { /* this tab only */ }
    signedIn(true);
    start();
  }

  async function showNode() {
    try {
      const response = await fetch(`${API}/health`, { credentials: 'omit', cache: 'no-store' });
      const health = await response.json();
      if (health && health.nation) {
        $('node-name').textContent = `${health.nation} node ${health.node}`;
        document.title = `trilat COP — ${health.nation} node`;
      }
    } catch (error) { /* the list shows the link state */ }
  }

  function tick() {
    const now = new Date();
    $('clock').textContent = `${now.toISOString().slice(0, 10)} ${pad(now.getUTCHours())}:${pad(now.getUTCMinutes())}:${pad(now.getUTCSeconds())}Z`;
  }

  function boot() {
    setupMap();
    setupFilters();
    renderBanner([]);
    showNode();
    tick();
    setInterval(tick, 1000);
    setInterval(refreshStale, 15000);
    $('sign-in').addEventListener('submit', onSignIn);
    $('sign-out').addEventListener('click', () => signOut(''));
    $('alert-close').addEventListener('click', unwarn);
    $('alert-show').addEventListener('click', () => { if (state.alerted) openOnMap(state.alerted); });
    let saved = null;
    try { saved = sessionStorage.getItem(TOKEN_KEY); } catch (error) { saved = null; }
    if (saved) {
      state.token = saved;
      signedIn(true);
      start();
    } else {
      signedIn(false);
    }
  }

  boot();
})();
