//! Every parameter of the student gets the gradient finite differences say it should — the test
//! that fails if an operation without a backward pass (a fused candle kernel) slips into the
//! model, or if a parameter is left out of the graph.
#![allow(clippy::unwrap_used)]

use candle_core::{Device, Tensor};
use provmark_student::{Student, StudentConfig};

fn tiny(tied: bool) -> StudentConfig {
    StudentConfig {
        layers: 2,
        dim: 8,
        heads: 2,
        kv_heads: 1,
        ffn_dim: 12,
        vocab_size: 11,
        context_length: 16,
        rope_theta: 10_000.0,
        rms_eps: 1e-5,
        tied_embeddings: tied,
    }
}

fn batch() -> (Tensor, Tensor, Tensor) {
    let dev = Device::Cpu;
    let ids = Tensor::new(&[[1u32, 4, 2, 9, 3, 7], [5, 5, 0, 10, 2, 0]], &dev).unwrap();
    let tg = Tensor::new(&[[4u32, 2, 9, 3, 7, 1], [5, 0, 10, 2, 8, 0]], &dev).unwrap();
    // The second row is padded at its end; its first position is prompt (no loss).
    let mask = Tensor::new(
        &[[1f32, 1., 1., 1., 1., 1.], [0., 1., 1., 1., 1., 0.]],
        &dev,
    )
    .unwrap();
    (ids, tg, mask)
}

fn check(tied: bool) {
    let s = Student::init(tiny(tied), 42).unwrap();
    let (ids, tg, mask) = batch();
    let loss = s.loss(&ids, &tg, &mask).unwrap();
    let grads = loss.backward().unwrap();
    let eval = |s: &Student| -> f64 {
        f64::from(
            s.loss(&ids, &tg, &mask)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
        )
    };
    let mut checked = 0;
    for (name, var) in s.named_vars() {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient"));
        let g: Vec<f32> = g.flatten_all().unwrap().to_vec1().unwrap();
        assert!(g.iter().any(|&x| x != 0.0), "{name}: gradient is all zero");
        let orig = var.as_tensor().copy().unwrap();
        let vals: Vec<f32> = orig.flatten_all().unwrap().to_vec1().unwrap();
        // Three coordinates per parameter, spread over it.
        for &j in &[0, vals.len() / 2, vals.len() - 1] {
            let h = 1e-2f32;
            let at = |delta: f32| {
                let mut v = vals.clone();
                v[j] += delta;
                var.set(&Tensor::from_vec(v, orig.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                eval(&s)
            };
            let num = (at(h) - at(-h)) / (2.0 * f64::from(h));
            var.set(&orig).unwrap();
            let ana = f64::from(g[j]);
            let tol = 2e-3 + 3e-2 * num.abs().max(ana.abs());
            assert!(
                (num - ana).abs() <= tol,
                "{name}[{j}]: backward {ana}, finite difference {num}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * s.named_vars().len());
}

#[test]
fn every_parameter_gets_the_finite_difference_gradient() {
    check(false);
}

#[test]
fn tied_embeddings_get_both_uses_gradient() {
    check(true);
}

#[test]
fn fused_candle_kernels_would_fail_this_check() {
    // The premise of the test: candle's fused RMSNorm passes no gradient to its weight. If a
    // candle release fixes that, this test says so (and the composed norm can go).
    let dev = Device::Cpu;
    let x =
        candle_core::Var::from_tensor(&Tensor::new(&[[1f32, 2., 3., 4.]], &dev).unwrap()).unwrap();
    let w =
        candle_core::Var::from_tensor(&Tensor::new(&[1f32, 1., 1., 1.], &dev).unwrap()).unwrap();
    let y = candle_nn::ops::rms_norm(x.as_tensor(), w.as_tensor(), 1e-5).unwrap();
    let loss = (y * Tensor::new(&[[1f32, -2., 3., 0.5]], &dev).unwrap())
        .unwrap()
        .sum_all()
        .unwrap();
    let g = loss.backward().unwrap();
    assert!(
        g.get(w.as_tensor()).is_none(),
        "candle's fused rms_norm now has a gradient"
    );
}
