/** Spherical-earth helpers for the GNSS track (accurate to well under a metre over a time step). */

export const EARTH_RADIUS_M = 6_371_008.8;
const DEG = Math.PI / 180;

export interface LatLon {
  latitude: number;
  longitude: number;
}

/** The point `distanceM` metres from `from` along compass heading `headingDeg` (great circle). */
export function destination(from: LatLon, headingDeg: number, distanceM: number): LatLon {
  const d = distanceM / EARTH_RADIUS_M;
  const h = headingDeg * DEG;
  const lat1 = from.latitude * DEG;
  const lon1 = from.longitude * DEG;
  const sinLat2 = Math.sin(lat1) * Math.cos(d) + Math.cos(lat1) * Math.sin(d) * Math.cos(h);
  const lat2 = Math.asin(Math.min(1, Math.max(-1, sinLat2)));
  const lon2 = lon1 + Math.atan2(Math.sin(h) * Math.sin(d) * Math.cos(lat1), Math.cos(d) - Math.sin(lat1) * sinLat2);
  return { latitude: lat2 / DEG, longitude: normalizeLongitude(lon2 / DEG) };
}

/** Great-circle distance in metres (haversine). */
export function distanceM(a: LatLon, b: LatLon): number {
  const dLat = (b.latitude - a.latitude) * DEG;
  const dLon = (b.longitude - a.longitude) * DEG;
  const s =
    Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * DEG) * Math.cos(b.latitude * DEG) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(s)));
}

/** Degrees in [0, 360). */
export function normalizeHeading(deg: number): number {
  const h = deg % 360;
  return h < 0 ? h + 360 : h;
}

function normalizeLongitude(deg: number): number {
  return ((((deg + 180) % 360) + 360) % 360) - 180;
}
