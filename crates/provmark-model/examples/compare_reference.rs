//! Compares our forward pass with candle-transformers' quantized llama on one prompt.
use candle_core::{Device, Tensor};
use provmark_model::{ChatTemplate, Llama};
use provmark_tokenize::Tokenizer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or(provmark_model::DEFAULT_MODEL.into()),
    );
    let tok = Tokenizer::from_file(&path)?;
    let ids = ChatTemplate::for_tokenizer(&tok)?.user_turn(&tok, "How do I make tea?");
    println!("ids {:?}", ids);
    println!("text {:?}", tok.decode_lossy(&ids));
    let ours = Llama::load(&path)?;
    let mut cache = ours.new_cache();
    let a = ours.prefill(&mut cache, &ids)?;
    let mut f = std::fs::File::open(&path)?;
    let ct = candle_core::quantized::gguf_file::Content::read(&mut f)?;
    let mut reference = candle_transformers::models::quantized_llama::ModelWeights::from_gguf(
        ct,
        &mut f,
        &Device::Cpu,
    )?;
    let x = Tensor::new(ids.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
    let b = reference.forward(&x, 0)?.flatten_all()?.to_vec1::<f32>()?;
    let maxdiff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    let am = |v: &[f32]| {
        v.iter()
            .enumerate()
            .fold((0, f32::MIN), |m, (i, &x)| if x > m.1 { (i, x) } else { m })
            .0
    };
    println!(
        "len {} {} max |diff| {maxdiff} argmax {} {}",
        a.len(),
        b.len(),
        am(&a),
        am(&b)
    );
    Ok(())
}
