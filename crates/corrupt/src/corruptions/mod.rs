//! One file per corruption, named after it: its registry entry and its parameter tables. The
//! operations they call live in modules by kind (ops, blurs, weather, frost, spatter, digital), the
//! arithmetic those reproduce in scipy, opencv, pillow and libjpeg.
pub mod brightness;
pub mod contrast;
pub mod defocus_blur;
pub mod elastic_transform;
pub mod fog;
pub mod frost;
pub mod gaussian_blur;
pub mod gaussian_noise;
pub mod glass_blur;
pub mod impulse_noise;
pub mod jpeg_compression;
pub mod motion_blur;
pub mod pixelate;
pub mod saturate;
pub mod shot_noise;
pub mod snow;
pub mod spatter;
pub mod speckle_noise;
pub mod zoom_blur;
