//! The checkout bodies the protect and inspect benches share: the 1 KiB and 256 KiB JSON
//! request bodies of the k6 mix.

/// A checkout with one card object and 12 line items (1 KiB), or more items until it is
/// about `size` bytes.
pub fn checkout(size: usize) -> Vec<u8> {
    let mut items = String::new();
    let mut i = 0;
    while i < 12 || items.len() + 330 < size {
        items.push_str(&format!(r#"{{"sku":"SKU-{i:04}","qty":1,"price":999}},"#));
        i += 1;
    }
    items.pop();
    format!(
        r#"{{"order_id":"ord_8f3a2c","currency":"eur","amount":12999,"card":{{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"}},"customer":{{"email":"jane@example.com","name":"Jane Doe"}},"shipping":{{"line1":"1 Main Street","city":"Berlin","postal_code":"10115","country":"DE"}},"items":[{items}]}}"#
    )
    .into_bytes()
}
