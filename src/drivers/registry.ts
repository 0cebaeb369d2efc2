import { DroverError } from '../shared/errors.js';
import type { GuestType } from '../vms/spec.js';
import type { Driver } from './types.js';

/** The drivers one host runs guests with, one per guest type; services look a guest's driver up here. */
export class GuestDrivers {
  private readonly byType = new Map<GuestType, Driver>();

  constructor(drivers: readonly Driver[]) {
    for (const driver of drivers) this.byType.set(driver.guestType, driver);
  }

  /** The driver for a guest (its record or spec); records written before containers existed are VMs. */
  for(guest: { type?: GuestType | undefined }): Driver {
    return this.forType(guest.type ?? 'vm');
  }

  /** The driver for `type`; GUEST_TYPE_UNSUPPORTED when this host runs no such guests. */
  forType(type: GuestType): Driver {
    const driver = this.byType.get(type);
    if (!driver) throw new DroverError('GUEST_TYPE_UNSUPPORTED', `this host runs no ${type === 'vm' ? 'VMs' : 'containers'}`);
    return driver;
  }

  all(): Driver[] {
    return [...this.byType.values()];
  }
}
