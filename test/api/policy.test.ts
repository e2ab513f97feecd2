import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/api/errors.js';
import { SiteAccess } from '../../src/api/policy.js';

const staff = new SiteAccess({ name: 'engineer-li', role: 'engineer' });
const hospital = new SiteAccess({ name: 'h1-equipment', role: 'hospital', siteId: 'h1' });
const siteless = new SiteAccess({ name: 'broken', role: 'hospital' });

const thrown = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
};

describe('SiteAccess: the API policy for site scope', () => {
  it('narrows a list to the sites the caller may see, or to nothing', () => {
    expect(staff.listScope()).toEqual({});
    expect(staff.listScope('h2')).toEqual({ site: 'h2' });
    expect(hospital.listScope()).toEqual({ site: 'h1' });
    expect(hospital.listScope('h1')).toEqual({ site: 'h1' });
    expect(hospital.listScope('h2')).toBeNull();
    expect(siteless.listScope()).toBeNull();
  });

  it('lets staff see every site and data of no known site; a hospital its own site only', () => {
    expect([staff.canSee('h1'), staff.canSee('h2'), staff.canSee(undefined)]).toEqual([true, true, true]);
    expect([hospital.canSee('h1'), hospital.canSee('h2'), hospital.canSee(undefined)]).toEqual([true, false, false]);
    expect(siteless.canSee('h1')).toBe(false);
  });

  it('answers 404 for another site’s resource exactly as for a missing one, and 403 to act on another site', () => {
    const workOrder = { id: 7, siteId: 'h2' };
    expect(staff.visible(workOrder, (w) => w.siteId, 'no work order 7')).toBe(workOrder);
    const hidden = thrown(() => hospital.visible(workOrder, (w) => w.siteId, 'no work order 7'));
    const missing = thrown(() => hospital.visible(undefined, (w: typeof workOrder) => w.siteId, 'no work order 7'));
    expect(hidden).toBeInstanceOf(ApiError);
    expect(hidden).toEqual(missing);
    expect(hidden).toMatchObject({ status: 404, code: 'not_found', message: 'no work order 7' });
    expect(thrown(() => hospital.requireSite('h2', 'device CT-2 is not at your site'))).toMatchObject({ status: 403, code: 'forbidden', message: 'device CT-2 is not at your site' });
    expect(thrown(() => hospital.requireSite('h1', 'x'))).toBeUndefined();
  });
});
