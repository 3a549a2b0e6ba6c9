use tierseal::{AccessContext, Classified, Clearance};

use crate::{Bank, ada};

const SECRETS: [&str; 4] = ["Ada Lovelace", "1250075", "4111111111111111", "825000"];

fn assert_clean(text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} leaked in {text}");
    }
}

#[test]
fn debug_of_the_struct_shows_levels_not_values() {
    let shown = format!("{:?}", ada());
    assert_clean(&shown);
    assert_eq!(
        shown,
        "Customer { customer_id: \"cus_042\", name: <internal>, balance_cents: <confidential>, \
         card_number: <restricted>, monthly_salary: <confidential>, nickname: \"ada\" }"
    );
    assert_clean(&format!("{:#?}", ada()));
}

#[test]
fn debug_of_the_sealed_form_and_the_view_leaks_nothing() {
    let bank = Bank::new();
    let sealed = ada().seal(&bank.writer()).unwrap();
    assert_clean(&format!("{sealed:?}"));
    let view = sealed
        .open(&bank.writer(), &AccessContext::new("t").with_purpose("p"))
        .unwrap();
    assert_eq!(
        view.name.value().unwrap(),
        "Ada Lovelace",
        "the view does hold values"
    );
    assert_clean(&format!("{view:?}"));
    let partial = sealed
        .open(
            &bank.keyring(Clearance::none()),
            &AccessContext::new("t").with_purpose("p"),
        )
        .unwrap();
    assert_clean(&format!("{partial:?}"));
}
