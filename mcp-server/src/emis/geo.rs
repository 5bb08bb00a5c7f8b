//! Great-circle geometry for "schools near a point".

/// Mean Earth radius in kilometres (IUGG).
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance in kilometres between two WGS84 points (haversine).
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// Latitude/longitude bounds that contain every point within `radius_km` of the
/// centre; a cheap pre-filter before the exact distance.
pub fn bounding_box(lat: f64, lon: f64, radius_km: f64) -> (f64, f64, f64, f64) {
    let dlat = (radius_km / EARTH_RADIUS_KM).to_degrees();
    let coslat = lat.to_radians().cos();
    let dlon = if coslat < 1e-6 || radius_km / EARTH_RADIUS_KM / coslat > 1.0 {
        180.0
    } else {
        (radius_km / EARTH_RADIUS_KM / coslat).asin().to_degrees()
    };
    (lat - dlat, lat + dlat, lon - dlon, lon + dlon)
}

#[cfg(test)]
mod tests {
    use super::haversine_km;

    #[test]
    fn nairobi_to_mombasa_is_about_440_km() {
        let d = haversine_km(-1.2921, 36.8219, -4.0435, 39.6682);
        assert!((d - 440.0).abs() < 5.0, "{d}");
    }

    #[test]
    fn a_point_is_zero_from_itself() {
        assert!(haversine_km(28.5, -81.4, 28.5, -81.4).abs() < 1e-9);
    }
}
