// The project and environment the admin UI works in: chosen in the top bar,
// kept in localStorage, and settable from an address
// (`#/flags?project=web&env=staging`). Pages build their API paths here.
//
// `default`'s `production` is also what the routes without a project serve
// (`/v1/flags/x` is `/v1/projects/default/environments/production/flags/x`),
// so in that scope the pages keep using them: a flag saved there changes its
// definition and its configuration in one write, where any other
// environment needs two (the definition is shared by every environment).

import { h, confirmDialog } from './dom.js';
import { get } from './api.js';

const KEY = 'vexil.scope';
const enc = encodeURIComponent;

export const scope = {
  project: 'default',
  env: 'production',
  /** `GET /v1/projects`: what the token reaches, each with its environments. */
  projects: [],
};

/** Reads the projects the token reaches and picks the saved scope. */
export async function loadScope() {
  try {
    scope.projects = (await get('/v1/projects?limit=1000')).projects;
  } catch {
    scope.projects = []; // a node before projects: only the unscoped routes
  }
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(KEY) || '{}') || {}; } catch { /* start afresh */ }
  choose(saved.project, saved.env);
}

/**
 * Makes `project`/`env` the scope when they exist (else the project's
 * `production`, else its first environment), and remembers it. Returns
 * whether the scope changed.
 */
export function choose(project, env) {
  const before = `${scope.project}/${scope.env}`;
  const p = scope.projects.find((x) => x.key === project)
    || scope.projects.find((x) => x.key === scope.project)
    || scope.projects.find((x) => x.key === 'default')
    || scope.projects[0];
  if (p) {
    const envs = sortedEnvironments(p);
    const e = envs.find((x) => x.key === env)
      || (p.key === scope.project ? envs.find((x) => x.key === scope.env) : null)
      || envs.find((x) => x.key === 'production')
      || envs[0];
    scope.project = p.key;
    scope.env = e ? e.key : 'production';
  }
  try { localStorage.setItem(KEY, JSON.stringify({ project: scope.project, env: scope.env })); } catch { /* private mode */ }
  return before !== `${scope.project}/${scope.env}`;
}

function sortedEnvironments(p) {
  return [...(p?.environments || [])].sort((a, b) => (a.order - b.order) || a.key.localeCompare(b.key));
}

export const project = () => scope.projects.find((p) => p.key === scope.project) || null;
/** The project's environments, in their order. */
export const environments = () => sortedEnvironments(project());
/** The current environment's record (`{key, name, color, production, …}`), if known. */
export const environment = () => environments().find((e) => e.key === scope.env) || null;
/** Whether this is the scope the unscoped routes serve. */
export const isLegacy = () => scope.project === 'default' && scope.env === 'production';
/** Whether changes here ask for confirmation first. */
export const isProduction = () => Boolean(environment()?.production ?? isLegacy());

const envBase = () => `/v1/projects/${enc(scope.project)}/environments/${enc(scope.env)}`;

/** API paths in the current scope. */
export const paths = {
  flags: () => (isLegacy() ? '/v1/flags' : `${envBase()}/flags`),
  flag: (key) => `${paths.flags()}/${enc(key)}`,
  segments: () => (isLegacy() ? '/v1/segments' : `${envBase()}/segments`),
  segment: (key) => `${paths.segments()}/${enc(key)}`,
  evaluate: () => (isLegacy() ? '/v1/evaluate' : `${envBase()}/evaluate`),
  /** The project's flags, each environment side by side; `POST` creates in all. */
  projectFlags: () => `/v1/projects/${enc(scope.project)}/flags`,
  /** A flag's definition, shared by every environment of the project. */
  definition: (key) => `${paths.projectFlags()}/${enc(key)}`,
  /** `flags` or `segments` versions and rollback in this scope. */
  versioned: (kind, key) => (kind === 'flags' ? paths.flag(key) : paths.segment(key)),
};

/** The environment's name, with its colour, for headings and dialogs. */
export function envChip(env = environment(), { small = false } = {}) {
  const key = env?.key || scope.env;
  return h('span', {
    class: `env-chip${small ? ' small' : ''}${env?.production ? ' production' : ''}`,
    envColor: env?.color || '#8a8fa3', 'data-env': key,
  }, h('span', { class: 'env-dot', 'aria-hidden': 'true' }), env?.name || key);
}

/**
 * In a production environment, asks before a change (`what`: "Save changes
 * to checkout"). Resolves to true when the change may go ahead.
 */
export async function confirmProduction(what, detail = null) {
  if (!isProduction()) return true;
  return confirmDialog({
    title: `${what} in ${scope.env}?`,
    body: h('p', {}, h('strong', {}, `${scope.env} is a production environment`),
      ` of project ${scope.project}: SDKs serving it see the change at once.`, detail ? [' ', detail] : null),
    confirmLabel: what,
  });
}
