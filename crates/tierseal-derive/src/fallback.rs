//! What the derive emits when the input has errors: the errors, plus a stub
//! impl so that uses of the type do not add follow-on errors.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

pub(crate) fn expand(input: &DeriveInput, errors: syn::Error) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let errors = errors.into_compile_error();
    quote! {
        #errors
        #[automatically_derived]
        impl #impl_generics ::tierseal::Classified for #ident #ty_generics #where_clause {
            type Sealed = ::tierseal::__private::Unsealable<Self>;
            type View = ::tierseal::__private::Unsealable<Self>;
            const CLASSIFICATION: &'static ::tierseal::Classification = &::tierseal::__private::UNCLASSIFIED;

            fn seal_within(
                &self,
                _: &::tierseal::Keyring,
                _: &::tierseal::__private::Within,
            ) -> ::core::result::Result<Self::Sealed, ::tierseal::Error> {
                ::core::result::Result::Err(::tierseal::__private::unsealable())
            }
        }
    }
}
