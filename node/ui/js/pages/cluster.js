// The cluster: each node's role, term, indexes, lag and health, with the
// leader highlighted. Refreshes every two seconds while the page is open.
// An admin can move leadership to a healthy follower (before restarting the
// leader's machine, say).

import { put, h, toast, confirmDialog } from '../dom.js';
import { api, get, can, explain } from '../api.js';
import { num } from '../format.js';

const REFRESH_MS = 2000;

export async function clusterPage(ctx) {
  ctx.crumbs('Cluster');
  const summary = h('div', { class: 'tiles', 'data-testid': 'cluster-summary' });
  const tbody = h('tbody');
  const live = h('span', { class: 'live', 'data-testid': 'live' });
  let paused = false;
  const pause = h('button', {
    class: 'btn small', 'aria-pressed': 'false',
    onClick: () => { paused = !paused; pause.textContent = paused ? 'Resume' : 'Pause'; pause.setAttribute('aria-pressed', String(paused)); },
  }, 'Pause');

  const admin = can('admin');
  const err = h('div', { class: 'alert error', role: 'alert', hidden: true, 'data-testid': 'cluster-error' });
  let moving = false;
  let last = null; // the cluster as last drawn

  async function makeLeader(m) {
    const ok = await confirmDialog({
      title: `Make node ${m.id} the leader?`, confirmLabel: `Make node ${m.id} leader`,
      body: h('p', {}, `Writes wait a moment while node ${m.id} takes over; reads and SDK streams carry on. Use it before restarting the current leader's machine.`),
    });
    if (!ok) return;
    err.hidden = true;
    moving = true;
    if (last) draw(last); // buttons off while it moves
    let moved = null;
    try {
      moved = await api('POST', '/v1/cluster/leader', { body: { to: m.id } });
    } catch (e) {
      err.textContent = explain(e);
      err.hidden = false;
    }
    moving = false;
    if (moved) toast(`Node ${moved.leader} leads`);
    if (ctx.alive) draw(moved ? moved.cluster : last);
  }

  const action = (m, c) => {
    if (!admin || m.is_leader || m.role !== 'voter' || !m.healthy || !c.leader) return null;
    return h('button', {
      class: 'btn small', 'data-testid': 'make-leader', disabled: moving,
      title: `Move leadership to node ${m.id}`, onClick: () => makeLeader(m),
    }, 'Make leader');
  };

  const tile = (label, value, testid) => h('div', { class: 'tile' }, h('div', { class: 'tile-label' }, label), h('div', { class: 'tile-value', 'data-testid': testid }, value));

  function draw(c) {
    last = c;
    const healthy = c.members.filter((m) => m.healthy).length;
    const voters = c.members.filter((m) => m.role === 'voter').length;
    put(summary, 
      tile('Leader', c.leader ? `node ${c.leader}` : 'none', 'leader'),
      tile('Term', String(c.term), 'term'),
      tile('Healthy', `${healthy} of ${c.members.length}`, 'healthy'),
      tile('Quorum', `${Math.floor(voters / 2) + 1} of ${voters} voters`, 'quorum'));
    put(tbody, ...c.members.map((m) => h('tr', {
      class: `${m.is_leader ? 'leader-row' : ''} ${m.healthy ? '' : 'unhealthy'}`, 'data-node': m.id,
    },
    h('td', { class: 'nowrap' }, h('strong', {}, `node ${m.id}`), m.id === c.node ? h('div', { class: 'muted small' }, 'serves this page') : null),
    h('td', {}, m.is_leader ? h('span', { class: 'badge leader', 'data-testid': 'leader-badge' }, '★ leader') : h('span', { class: 'badge' }, m.role === 'voter' ? 'follower' : 'learner'),
      m.is_leader ? null : h('div', { class: 'small muted' }, m.role)),
    h('td', {}, h('span', { class: `health ${m.healthy ? 'ok' : 'bad'}`, 'data-testid': 'health' }, m.healthy ? 'healthy' : 'unreachable'),
      m.error ? h('div', { class: 'small bad' }, m.error) : null),
    h('td', { class: 'num' }, num(m.term)),
    h('td', { class: 'num', 'data-testid': 'commit' }, num(m.commit_index)),
    h('td', { class: 'num', 'data-testid': 'applied' }, num(m.applied_index)),
    h('td', { class: 'num' }, num(m.last_log_index)),
    h('td', { class: 'num' }, m.snapshot_index === null ? '—' : num(m.snapshot_index)),
    h('td', { class: `num ${m.lag > 0 ? 'warn-text' : ''}`, 'data-testid': 'lag' }, num(m.lag)),
    h('td', { class: 'mono small' }, m.client_addr, h('div', { class: 'muted' }, `peer ${m.peer_addr}`)),
    admin ? h('td', {}, action(m, c)) : null)));
    put(live, h('span', { class: 'pulse' }), `Live · updated ${new Date().toLocaleTimeString()}`);
  }

  async function refresh() {
    if (paused) return;
    const c = await get('/v1/cluster');
    if (ctx.alive) draw(c);
  }

  ctx.render(h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Cluster'), h('span', { class: 'muted' }, `Refreshes every ${REFRESH_MS / 1000} s.`)),
      h('div', { class: 'head-actions' }, live, pause)),
    summary,
    err,
    h('div', { class: 'card flush' }, h('table', { class: 'table', 'data-testid': 'cluster-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Node'), h('th', {}, 'Role'), h('th', {}, 'Health'), h('th', { class: 'num' }, 'Term'),
        h('th', { class: 'num' }, 'Commit'), h('th', { class: 'num' }, 'Applied'), h('th', { class: 'num' }, 'Last log'),
        h('th', { class: 'num' }, 'Snapshot'), h('th', { class: 'num' }, 'Lag'), h('th', {}, 'Address'),
        admin ? h('th', {}, h('span', { class: 'sr-only' }, 'Actions')) : null)),
      tbody)),
    h('p', { class: 'muted small' }, 'Lag is how many committed entries a node has yet to apply. A node that does not answer within the deadline is shown unreachable.')));
  await refresh();
  ctx.every(REFRESH_MS, refresh);
}
