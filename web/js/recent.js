// web/js/recent.js — what the person looked at last, in memory only (never
// stored): the building whose flats a short number in the search box means.

export const recent = { building: null };

/** Remembers building b ({id, number, site_id}) as the current context. */
export function sawBuilding(b) {
  if (b && b.id) recent.building = { id: b.id, number: b.number };
}
