//! The balance columns that ingest precomputes for the sparse sweep.

mod common;
use chaintrace::store::Store;
use common::*;

const A: &str = "0xaaaa000000000000000000000000000000000001";
const B: &str = "0xbbbb000000000000000000000000000000000002";
const C: &str = "0xcccc000000000000000000000000000000000003";
const T: &str = "0x7070000000000000000000000000000000000009";

#[test]
fn sender_balances_replay_the_tracers_rules() {
    let t = tempfile::tempdir().unwrap();
    let eth = t.path().join("eth.csv");
    // A overdraws (credited 10 as unknown origin), pays itself (nothing moves,
    // but its overdraft is credited), sends nothing (zero value), and B
    // receives a value past 2^128 that makes it unfit for 128 bits.
    let big = "400000000000000000000000000000000000000"; // > 2^128
    std::fs::write(
        &eth,
        format!(
            "block_number,from_address,to_address,value\n\
             100,{A},{B},10\n\
             101,{B},{C},4\n\
             102,{A},{A},7\n\
             103,{B},{A},0\n\
             104,{A},{C},3\n\
             105,{C},{B},{big}\n\
             106,{C},{A},1\n"
        ),
    )
    .unwrap();
    let tok = t.path().join("tok.csv");
    std::fs::write(
        &tok,
        format!(
            "token_address,from_address,to_address,value,transaction_hash,log_index,block_number\n\
             {T},{A},{B},50,0x{h1},0,100\n\
             {T},{B},{A},20,0x{h2},0,102\n",
            h1 = "11".repeat(32),
            h2 = "22".repeat(32)
        ),
    )
    .unwrap();
    let st = t.path().join("s");
    let o = ingest(&st, "ethereum", "transfers", &[], &[&eth]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = ingest(&st, "ethereum", "etl", &[], &[&tok]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let s = Store::open(&st).unwrap();
    let ev = s.events();
    let id = |a: &str| s.find_address(a).unwrap();
    let (a, b, c) = (id(A), id(B), id(C));
    let sender = s.sender_balances();
    let got: Vec<_> = (0..s.len()).map(|i| (ev.block(i), ev.asset(i), ev.sender(i), sender.get(i))).collect();
    let token = 1;
    let want = vec![
        (100, 0, a, 0),      // A has nothing yet
        (100, token, a, 0),  // nor any token
        (101, 0, b, 10),     // B got 10 from A
        (102, 0, a, 0),      // A is at 0 after the overdraft; the self-transfer credits 7
        (102, token, b, 50), // B holds 50 tokens
        (103, 0, b, 0),      // zero value: nothing moves, nothing recorded
        (104, 0, a, 7),      // A kept the 7 it was credited
        (105, 0, c, 7),      // C got 4 + 3; the big value overdraws it
        (106, 0, c, 0),      // the overdraft was credited, so C is left with nothing
    ];
    assert_eq!(got, want);
    // What is left: A 7 - 3 + 1, B 6 + big (unfit), C 0 after its second
    // overdraft; tokens A 20, B 30.
    assert_eq!(s.final_balances(0, &[a, b, c]), vec![5, u128::MAX, 0]);
    assert_eq!(s.final_balances(token, &[a, b, c]), vec![20, 30, 0]);
    assert_eq!(s.find_address(&C.to_uppercase().replace("0X", "0x")), Some(c));
    assert_eq!(s.find_address("0x0000000000000000000000000000000000000042"), None);
}
