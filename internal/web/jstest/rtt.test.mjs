// Unit tests of rtt.js's pure functions (docs/interpreter.md §6.3):
//   node --test internal/web/jstest/
// (run by TestRTTJS in internal/web when node is installed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

// static/ has no package.json: load the ES module from its source.
const src = await readFile(new URL('../static/rtt.js', import.meta.url), 'utf8');
const rtt = await import('data:text/javascript;base64,' + Buffer.from(src).toString('base64'));
const { filterT140, applyT140, newTextState, stateText, diffToT140, appendPending, chunkUtf8, parseChannelLabel,
  routingSummary, decodeT140, graphemes, formatDuration, secondsSince, BS, BEL, LS } = rtt;

const feed = (...parts) => parts.reduce((st, p) => applyT140(st, p).state, newTextState());

test('filter: printable text of any script, emoji and combining marks passes', () => {
  const s = 'Hola, ¿qué tal? 手話 👋🏽 e\u0301';
  assert.equal(filterT140(s), s);
});

test('filter: BOM, ESC sequences and other controls are removed', () => {
  assert.equal(filterT140('\uFEFFab\uFEFFc'), 'abc');
  assert.equal(filterT140('a\x1b[1;31mred\x1b[0m b'), 'ared b');
  assert.equal(filterT140('a\x1bcb'), 'ab'); // two-character ESC x
  assert.equal(filterT140('a\x00b\x01c\tz\x7f\x85\x9b!'), 'abcz!');
  assert.equal(filterT140('x\x1b[12'), 'x'); // unterminated CSI at the end
  assert.equal(filterT140('x\x1b[1\ny'), `x${LS}y`); // CSI cut by a control: the control is kept (a new line)
});

test('filter: CR LF, CR, LF and U+2028 become one line separator each', () => {
  assert.equal(filterT140('a\r\nb\rc\nd\u2028e'), `a${LS}b${LS}c${LS}d${LS}e`);
  assert.equal(filterT140('a\r\n\r\nb'), `a${LS}${LS}b`);
});

test('filter: BS, BEL and U+FFFD are kept', () => {
  assert.equal(filterT140(`a${BS}${BEL}\uFFFD`), `a${BS}${BEL}\uFFFD`);
});

test('invalid UTF-8 becomes U+FFFD', () => {
  assert.equal(decodeT140(new Uint8Array([0x61, 0xff, 0x62, 0xe2, 0x82])), 'a\uFFFDb\uFFFD');
  assert.equal(decodeT140(new Uint8Array([0xe2, 0x80, 0xa8]).buffer), LS);
});

test('apply: text is appended; BS erases a grapheme cluster, never more', () => {
  assert.equal(stateText(feed('hello', BS, BS)), 'hel');
  assert.equal(stateText(feed('ok 👋🏽', BS)), 'ok '); // a skin-toned emoji is one cluster
  assert.equal(stateText(feed('cafe\u0301', BS)), 'caf'); // e + combining acute
  assert.equal(stateText(feed('🇪🇸x', BS, BS)), '');
  assert.equal(stateText(feed(BS, BS, 'a')), 'a'); // nothing to erase: nothing happens
});

test('apply: BS at a line start erases the line break', () => {
  assert.equal(stateText(feed(`one${LS}`, BS, 'X')), 'oneX');
  assert.equal(stateText(feed(`one${LS}t`, BS, BS, BS)), 'on');
});

test('apply: completed lines and bells are reported; a line erased in the same message is not completed', () => {
  let r = applyT140(newTextState(), `first${LS}second${LS}thi`);
  assert.deepEqual(r.completed, ['first', 'second']);
  assert.deepEqual(r.state.lines, ['first', 'second', 'thi']);
  r = applyT140(newTextState(), `a${LS}${BS}b${BEL}${BEL}`);
  assert.deepEqual(r.completed, []);
  assert.equal(r.bells, 2);
  assert.equal(stateText(r.state), 'ab');
});

test('apply: the state given is not modified and at most 200 lines are kept', () => {
  const st = feed('abc');
  applyT140(st, BS);
  assert.equal(stateText(st), 'abc');
  const many = feed(Array.from({ length: 250 }, (_, i) => `l${i}`).join(LS));
  assert.equal(many.lines.length, 200);
  assert.equal(many.lines[0], 'l50');
  assert.equal(many.lines[199], 'l249');
});

test('diff: typing, erasing, replacing a selection, newlines', () => {
  assert.equal(diffToT140('', 'h'), 'h');
  assert.equal(diffToT140('hel', 'hello'), 'lo');
  assert.equal(diffToT140('hello', 'hell'), BS);
  assert.equal(diffToT140('ok 👋🏽', 'ok '), BS);
  assert.equal(diffToT140('the cat', 'the dog'), `${BS}${BS}${BS}dog`);
  assert.equal(diffToT140('a', 'a\nb'), `${LS}b`);
  assert.equal(diffToT140('same', 'same'), '');
  // what the receiver shows equals the field, whatever the edit
  for (const [a, b] of [['abc', 'xbc'], ['hello world', 'hello'], ['', 'x'], ['e\u0301t\u00e9', 'e\u0301']]) {
    assert.equal(stateText(feed(a, diffToT140(a, b))), b);
  }
});

test('pending buffer: a character erased before it was sent is not sent', () => {
  assert.equal(appendPending('abc', BS), 'ab');
  assert.equal(appendPending('', BS), BS); // erases text already sent
  assert.equal(appendPending(`a${LS}`, BS), `a${LS}${BS}`); // a sent line break is erased by the receiver
  assert.equal(appendPending('x👋🏽', BS), 'x');
  assert.equal(appendPending(BS, BS), BS + BS);
});

test('chunks: at most 4096 bytes, never inside a grapheme cluster', () => {
  const s = '👋🏽'.repeat(1000); // 8 bytes each
  const parts = chunkUtf8(s, 4096);
  assert.equal(parts.join(''), s);
  for (const p of parts) {
    assert.ok(new TextEncoder().encode(p).length <= 4096);
    assert.equal(graphemes(p).join(''), p);
  }
  assert.equal(parts.length, 2);
});

test('channel labels', () => {
  assert.deepEqual(parseChannelLabel('deaf-user/rtc_d1'), { from: 'deaf-user', leg: 'rtc_d1' });
  assert.deepEqual(parseChannelLabel('phone/sip_p1'), { from: 'phone', leg: 'sip_p1' });
  assert.deepEqual(parseChannelLabel('interpreter/rtc_i2'), { from: 'interpreter', leg: 'rtc_i2' });
  assert.equal(parseChannelLabel('t140'), null);
  assert.equal(parseChannelLabel('other/x'), null);
  assert.equal(parseChannelLabel('phone/'), null);
});

test('routing summary follows §4.2', () => {
  const me = { leg: 'i1', name: 'Ana', lead: true };
  const base = { vco: false, hco: false, side_talk: false, phone: { state: 'connected' }, interpreters: [me] };
  assert.equal(routingSummary(base, 'i1').text, 'Phone hears: you. Deaf user hears: nothing. You hear: phone.');
  assert.equal(routingSummary({ ...base, vco: true }, 'i1').text, 'Phone hears: you and deaf user. Deaf user hears: nothing. You hear: phone and deaf user.');
  assert.equal(routingSummary({ ...base, hco: true }, 'i1').text, 'Phone hears: you. Deaf user hears: phone. You hear: phone.');
  assert.equal(routingSummary({ ...base, side_talk: true }, 'i1').text, 'Phone hears: nothing. Deaf user hears: you. You hear: phone.');
  assert.equal(routingSummary({ ...base, phone: { state: 'none' } }, 'i1').text, 'Phone hears: no call. Deaf user hears: nothing. You hear: nothing.');
  assert.equal(routingSummary({ ...base, phone: { state: 'ended', code: 486 }, hco: true }, 'i1').deaf, 'nothing');
  // a team partner: never heard by the phone or the deaf user; hears the phone and the lead
  const team = { ...base, interpreters: [me, { leg: 'i2', name: 'Ben', lead: false }] };
  assert.equal(routingSummary(team, 'i2').text, 'Phone hears: Ana. Deaf user hears: nothing. You hear: phone and Ana (lead).');
  assert.equal(routingSummary(team, 'i1').me, 'phone and Ben');
});

test('durations', () => {
  assert.equal(formatDuration(125), '2 min 05 s');
  assert.equal(formatDuration(3725), '1 h 02 min');
  assert.equal(secondsSince('2026-12-04T10:00:00Z', Date.parse('2026-12-04T10:01:30Z')), 90);
  assert.equal(secondsSince('', 0), 0);
});
