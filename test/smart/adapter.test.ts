import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { migrate } from '../../server/db/migrations.js';
import { knexAdapter, sweepExpired } from '../../smart/provider/adapter.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/db.js';

/** oidc-provider's storage in the shared database, on both engines. */
describe.each(engines())('knex adapter for oidc-provider (%s)', (engine) => {
  let d: TestDatabase;
  let Adapter: ReturnType<typeof knexAdapter>;
  beforeAll(async () => {
    d = await freshDatabase(engine);
    await migrate(d.db.knex);
    Adapter = knexAdapter(d.db, async (id) => (id === 'known' ? { client_id: 'known' } : undefined));
  });
  afterAll(() => d.drop());

  it('stores, finds by id and uid, consumes and forgets models', async () => {
    const codes = new Adapter('AuthorizationCode');
    await codes.upsert('c1', { grantId: 'g1', clientId: 'app', accountId: 'u1', scope: 'openid' }, 60);
    expect(await codes.find('c1')).toMatchObject({ grantId: 'g1', scope: 'openid' });
    expect(await new Adapter('AccessToken').find('c1')).toBeUndefined();
    await codes.consume('c1');
    expect((await codes.find('c1'))?.consumed).toEqual(expect.any(Number));
    const interactions = new Adapter('Interaction');
    await interactions.upsert('i1', { uid: 'u-123' }, 60);
    expect(await interactions.findByUid('u-123')).toMatchObject({ uid: 'u-123' });
    await codes.destroy('c1');
    expect(await codes.find('c1')).toBeUndefined();
  });

  it('revokes every model of a grant, whatever its kind', async () => {
    await new Adapter('AccessToken').upsert('a1', { grantId: 'g2' }, 60);
    await new Adapter('RefreshToken').upsert('r1', { grantId: 'g2' }, 60);
    await new Adapter('AccessToken').upsert('a2', { grantId: 'other' }, 60);
    await new Adapter('Grant').revokeByGrantId('g2');
    expect(await new Adapter('AccessToken').find('a1')).toBeUndefined();
    expect(await new Adapter('RefreshToken').find('r1')).toBeUndefined();
    expect(await new Adapter('AccessToken').find('a2')).toBeDefined();
  });

  it('hides expired models and sweeps them away, keeping the rest', async () => {
    const tokens = new Adapter('AccessToken');
    await tokens.upsert('old', { grantId: 'g3' }, 60);
    await tokens.upsert('new', { grantId: 'g3' }, 60);
    await d.db.knex('oauth_models').where({ kind: 'AccessToken', id: 'old' }).update({ expires_at: Date.now() - 1000 });
    expect(await tokens.find('old')).toBeUndefined();
    expect(await sweepExpired(d.db.knex)).toBeGreaterThanOrEqual(1);
    expect(await d.db.knex('oauth_models').where({ id: 'old' }).first()).toBeUndefined();
    expect(await tokens.find('new')).toBeDefined();
  });

  it('serves clients from the registry and refuses to store them', async () => {
    const clients = new Adapter('Client');
    expect(await clients.find('known')).toEqual({ client_id: 'known' });
    expect(await clients.find('unknown')).toBeUndefined();
    await expect(clients.upsert('x', { client_id: 'x' }, 0)).rejects.toThrow(/client registry/);
  });
});
